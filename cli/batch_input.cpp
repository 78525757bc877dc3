#include "cli/batch_input.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "weights/chat.h"

namespace dsv4::cli {

namespace {

using nlohmann::json;

// Parses with a depth limit: nlohmann's parser is iterative, but dump() and the chat encoder
// recurse, so a line of 100k '[' must be refused here.
ChatJson parse_limited(std::string_view line) {
  const ChatJson::parser_callback_t limit = [](int depth, ChatJson::parse_event_t, ChatJson&) {
    if (depth > kMaxBatchLineDepth)
      throw BatchLineError("JSON nested deeper than " + std::to_string(kMaxBatchLineDepth) + " levels");
    return true;
  };
  // nlohmann's lexer ends the input at a NUL byte, so whatever follows one (even invalid UTF-8)
  // would be silently ignored: a JSONL line has no business holding one.
  if (const size_t nul = line.find('\0'); nul != std::string_view::npos)
    throw BatchLineError("a NUL byte at offset " + std::to_string(nul) + " (a JSONL line is text)");
  try {
    return ChatJson::parse(line.begin(), line.end(), limit);
  } catch (const json::exception& e) {  // includes invalid UTF-8 inside strings
    throw BatchLineError(std::string("not valid JSON: ") + e.what());
  }
}

// The id as given (string or number) and its canonical key; objects sort like the output file's.
json read_id(const ChatJson& j) {
  if (!j.is_object()) throw BatchLineError("a line must be a JSON object with an \"id\"");
  const auto it = j.find("id");
  if (it == j.end()) throw BatchLineError("a line needs an \"id\"");
  if (!it->is_string() && !it->is_number()) throw BatchLineError("\"id\" must be a string or a number");
  if (it->is_number_float() && !std::isfinite(it->get<double>())) throw BatchLineError("\"id\" must be finite");
  return json::parse(it->dump());
}

int64_t integer_field(const ChatJson& v, const char* name, int64_t lo, int64_t hi) {
  const auto fail = [&] {
    return BatchLineError(std::string("\"") + name + "\" must be an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  };
  if (!v.is_number_integer()) throw fail();
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(hi) || (lo > 0 && u < uint64_t(lo))) throw fail();  // nlohmann reads "0" as unsigned
    return int64_t(u);
  }
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) throw fail();
  return i;
}

std::string shortest(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

float number_field(const ChatJson& v, const char* name, double lo, double hi) {
  const double d = v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
  if (!(d >= lo && d <= hi))  // also refuses NaN and non-numbers
    throw BatchLineError(std::string("\"") + name + "\" must be a number in [" + shortest(lo) + ", " + shortest(hi) + "]");
  return float(d);
}

// Same ranges as the command-line flags (cli/cmd_run.cpp add_sampling_options).
BatchLineOverrides read_overrides(const ChatJson& j) {
  BatchLineOverrides o;
  auto field = [&](const char* k) -> const ChatJson* {
    const auto it = j.find(k);
    return it == j.end() ? nullptr : &*it;
  };
  if (auto* v = field("max_tokens")) o.max_tokens = integer_field(*v, "max_tokens", 1, int64_t(1) << 40);
  if (auto* v = field("temperature")) o.temperature = number_field(*v, "temperature", 0, 100);
  if (auto* v = field("top_p")) o.top_p = number_field(*v, "top_p", 0, 1);
  if (auto* v = field("min_p")) o.min_p = number_field(*v, "min_p", 0, 1);
  if (auto* v = field("repetition_penalty")) o.repetition_penalty = number_field(*v, "repetition_penalty", 0.01, 100);
  if (auto* v = field("top_k")) o.top_k = int32_t(integer_field(*v, "top_k", 0, std::numeric_limits<int32_t>::max()));
  if (auto* v = field("seed")) {
    if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0))
      throw BatchLineError("\"seed\" must be a non-negative integer");
    o.seed = v->get<uint64_t>();
  }
  return o;
}

std::vector<int32_t> read_prompt(const ChatJson& j, const BatchLineContext& c) {
  const bool has_prompt = j.contains("prompt"), has_messages = j.contains("messages");
  if (has_prompt == has_messages) throw BatchLineError("give \"prompt\" or \"messages\" (one of them)");
  if (has_prompt && !j["prompt"].is_string()) throw BatchLineError("\"prompt\" must be a string");
  if (has_messages && !j["messages"].is_array()) throw BatchLineError("\"messages\" must be an array of messages");
  std::string mode = c.default_mode;
  if (const auto it = j.find("mode"); it != j.end()) {
    if (!it->is_string()) throw BatchLineError("\"mode\" must be \"chat\", \"think\" or \"think-max\"");
    mode = it->get<std::string>();
  }
  const ChatJson messages =
      has_prompt ? ChatJson::array({ChatJson{{"role", "user"}, {"content", j["prompt"]}}}) : j["messages"];
  std::vector<int32_t> ids;
  try {
    for (int32_t t : c.tokenizer.encode_prompt(encode_messages(messages, chat_options_for_mode(mode)))) ids.push_back(t);
  } catch (const std::invalid_argument& e) {  // a conversation the template refuses, an unknown mode
    throw BatchLineError(e.what());
  } catch (const json::exception& e) {
    throw BatchLineError(std::string("bad message: ") + e.what());
  }
  if (ids.empty()) throw BatchLineError("the prompt renders to no tokens");
  if (int64_t(ids.size()) >= c.ctx)
    throw BatchLineError("prompt of " + std::to_string(ids.size()) + " tokens does not fit --ctx " +
                         std::to_string(c.ctx));
  return ids;
}

}  // namespace

std::optional<BatchLine> parse_batch_line(std::string_view line, const BatchLineContext& context,
                                          const std::function<bool(const std::string&)>& skip) {
  const ChatJson j = parse_limited(line);
  BatchLine out;
  out.id = read_id(j);
  out.key = out.id.dump();
  if (skip && skip(out.key)) return std::nullopt;
  try {
    out.overrides = read_overrides(j);
    out.prompt = read_prompt(j, context);
  } catch (const BatchLineError& e) {
    throw BatchLineError(e.what(), out.id);
  }
  return out;
}

}  // namespace dsv4::cli
