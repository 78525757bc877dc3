// libFuzzer target for one line of `dsv4 batch` input (cli/batch_input.h): JSON with a depth
// limit, id, prompt or messages through the chat template and the tokenizer, mode, per-line
// sampling overrides. Properties, not just "no crash": the only exception is BatchLineError; a line
// with invalid UTF-8 is always refused; an accepted line has a canonical key, a non-empty prompt
// that fits the context, token ids inside the vocabulary and overrides within the flags' ranges;
// every error record can be written.
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/batch_input.h"
#include "weights/tokenizer.h"
#include "weights/unicode.h"

namespace {

const dsv4::Tokenizer& tokenizer() {
  static const dsv4::Tokenizer t = dsv4::Tokenizer::load(DSV4_TEST_DATA_DIR "/tokenizer/tokenizer.json");
  return t;
}

constexpr int64_t kCtx = 4096;

void check_accepted(const dsv4::cli::BatchLine& l) {
  if (l.key != l.id.dump() || !(l.id.is_string() || l.id.is_number())) __builtin_trap();
  if (l.prompt.empty() || int64_t(l.prompt.size()) >= kCtx) __builtin_trap();
  for (int32_t t : l.prompt)
    if (t < 0 || t >= tokenizer().vocab_size()) __builtin_trap();
  const auto& o = l.overrides;
  if (o.max_tokens && *o.max_tokens < 1) __builtin_trap();
  if (o.temperature && !(*o.temperature >= 0 && *o.temperature <= 100)) __builtin_trap();
  if (o.top_p && !(*o.top_p >= 0 && *o.top_p <= 1)) __builtin_trap();
  if (o.min_p && !(*o.min_p >= 0 && *o.min_p <= 1)) __builtin_trap();
  if (o.top_k && *o.top_k < 0) __builtin_trap();
}

}  // namespace

// Loading the tokenizer takes seconds under ASan: do it before the per-input timeout applies.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const dsv4::cli::BatchLineContext context{tokenizer(), "chat", kCtx};
  try {
    const auto l = dsv4::cli::parse_batch_line(line, context);
    if (!l) __builtin_trap();  // nothing to skip here
    if (dsv4::unicode::find_invalid_utf8(line)) __builtin_trap();  // invalid UTF-8 must be refused
    check_accepted(*l);
    // The skip predicate sees the same key and stops before tokenizing.
    std::string seen;
    if (dsv4::cli::parse_batch_line(line, context, [&](const std::string& k) { return seen = k, true; }) ||
        seen != l->key)
      __builtin_trap();
  } catch (const dsv4::cli::BatchLineError& e) {
    nlohmann::json rec = e.id().is_null() ? nlohmann::json{{"line", 1}} : nlohmann::json{{"id", e.id()}};
    rec["error"] = e.what();
    (void)rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // as cmd_batch writes it
  }
  return 0;
}
