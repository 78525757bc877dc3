// libFuzzer target for the text paths a user controls: tokenizer encode/decode (incl. the
// streaming decoder), invalid-UTF-8 rejection, the chat-message JSON encoder in every mode, and
// completion parsing. Properties, not just "no crash": valid UTF-8 round-trips exactly through
// decode and the streaming decoder; invalid UTF-8 is always rejected with invalid_argument.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "weights/chat.h"
#include "weights/chat_completion.h"
#include "weights/tokenizer.h"
#include "weights/unicode.h"

namespace {

const dsv4::Tokenizer& tokenizer() {
  static const dsv4::Tokenizer t = dsv4::Tokenizer::load(DSV4_TEST_DATA_DIR "/tokenizer/tokenizer.json");
  return t;
}

void check_text_round_trip(const dsv4::Tokenizer& t, const std::string& s) {
  if (dsv4::unicode::find_invalid_utf8(s)) {
    try {
      (void)t.encode(s);
      __builtin_trap();  // invalid UTF-8 must be refused
    } catch (const std::invalid_argument&) {
    }
    return;
  }
  const auto ids = t.encode(s);
  if (t.decode(ids) != s) __builtin_trap();
  dsv4::StreamDecoder stream(t);
  std::string streamed;
  for (auto id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  if (streamed != s) __builtin_trap();
}

void check_chat_json(const dsv4::Tokenizer& t, const std::string& s) {
  const auto j = dsv4::ChatJson::parse(s, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return;
  for (const char* mode : {"chat", "think", "think-max"}) {
    try {
      (void)t.encode_prompt(dsv4::encode_messages(j, dsv4::chat_options_for_mode(mode)));
    } catch (const std::invalid_argument&) {  // malformed conversations are refused, not crashed on
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  const dsv4::Tokenizer& t = tokenizer();
  check_text_round_trip(t, s);
  (void)dsv4::unicode::to_valid_utf8_lossy(s);
  check_chat_json(t, s);
  for (auto mode : {dsv4::ThinkingMode::kChat, dsv4::ThinkingMode::kThinking}) {
    try {
      (void)dsv4::parse_completion(s, mode);
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}
