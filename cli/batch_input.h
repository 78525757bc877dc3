// One line of `dsv4 batch`'s JSONL input, parsed and validated apart from the command so that the
// CLI and a libFuzzer target (tests/fuzz/batch_jsonl_fuzz.cpp) run the same code on untrusted text.
//
// A line is {"id": <string|number>, "prompt": "..."} or {"id": ..., "messages": [...]}, with
// optional "mode" ("chat" | "think" | "think-max") and per-line "max_tokens", "temperature",
// "top_p", "top_k", "min_p", "repetition_penalty", "seed". Anything wrong with a line (bad JSON,
// invalid UTF-8, wrong types, out-of-range numbers, nesting deeper than kMaxBatchLineDepth, a
// conversation the chat template refuses, a prompt that does not fit the context) is a
// BatchLineError, which the command writes as that line's error record.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "weights/tokenizer.h"

namespace dsv4::cli {

// Deeper JSON is refused before anything walks it recursively (dump, the chat encoder).
constexpr int kMaxBatchLineDepth = 64;

// Why a line cannot run. id(): the line's id when it was read before the fault, else null.
class BatchLineError : public std::runtime_error {
 public:
  BatchLineError(const std::string& what, nlohmann::json id = nullptr) : std::runtime_error(what), id_(std::move(id)) {}
  const nlohmann::json& id() const { return id_; }

 private:
  nlohmann::json id_;
};

// Per-line values that override the command's flags (absent: the flag applies).
struct BatchLineOverrides {
  std::optional<int64_t> max_tokens;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int32_t> top_k;
  std::optional<uint64_t> seed;
};

struct BatchLine {
  nlohmann::json id;  // as given
  std::string key;    // canonical id (compact JSON): what resume and duplicate checks compare
  std::vector<int32_t> prompt;
  BatchLineOverrides overrides;
};

struct BatchLineContext {
  const Tokenizer& tokenizer;
  std::string default_mode = "chat";
  int64_t ctx = 4096;  // a prompt must leave room for at least one generated token
};

// Parses one line. Returns nullopt when `skip(key)` says the id is already done (checked before
// the prompt is tokenized). Throws only BatchLineError.
std::optional<BatchLine> parse_batch_line(std::string_view line, const BatchLineContext& context,
                                          const std::function<bool(const std::string&)>& skip = {});

}  // namespace dsv4::cli
