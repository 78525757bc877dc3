#include "weights/chat_completion.h"

#include <set>
#include <stdexcept>

namespace dsv4 {
namespace {

namespace tok = chat_tokens;

constexpr std::string_view kToolCallsStart = "\n\n<｜DSML｜tool_calls";
constexpr std::string_view kToolCallsEnd = "</｜DSML｜tool_calls>";
constexpr std::string_view kInvokeOpen = "<｜DSML｜invoke name=\"";
constexpr std::string_view kInvokeClose = "</｜DSML｜invoke>";
constexpr std::string_view kParamOpen = "<｜DSML｜parameter name=\"";
constexpr std::string_view kParamClose = "</｜DSML｜parameter>";

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("malformed completion: " + what); }

// A cursor over the tool-call block that consumes exact literals.
struct Reader {
  std::string_view s;
  size_t pos = 0;
  bool at(std::string_view lit) const { return s.substr(pos, lit.size()) == lit; }
  void expect(std::string_view lit, const char* where) {
    if (!at(lit)) fail(std::string("expected \"") + std::string(lit) + "\" " + where);
    pos += lit.size();
  }
  std::string until(std::string_view lit, const char* where) {
    const size_t end = s.find(lit, pos);
    if (end == std::string_view::npos) fail(std::string("missing \"") + std::string(lit) + "\" " + where);
    std::string out(s.substr(pos, end - pos));
    pos = end + lit.size();
    return out;
  }
};

std::string parse_arguments(Reader& r, const std::string& tool) {
  std::string args = "{";
  std::set<std::string> seen;
  while (r.at(kParamOpen)) {
    r.pos += kParamOpen.size();
    const std::string name = r.until("\" string=\"", "after a parameter name");
    const std::string is_string = r.until("\">", "after string=");
    if (is_string != "true" && is_string != "false") fail("string=\"" + is_string + "\" in tool " + tool);
    const std::string value = r.until(kParamClose, "after a parameter value");
    r.expect("\n", "after a parameter");
    if (!seen.insert(name).second) fail("duplicate parameter \"" + name + "\" in tool " + tool);
    if (args.size() > 1) args += ", ";
    args += python_json_dumps(name) + ": " + (is_string == "true" ? python_json_dumps(value) : value);
  }
  return args + "}";
}

ChatJson parse_tool_calls(std::string_view block) {
  ChatJson calls = ChatJson::array();
  Reader r{block};
  r.expect(">\n", "after <｜DSML｜tool_calls");
  while (r.at(kInvokeOpen)) {
    r.pos += kInvokeOpen.size();
    const std::string name = r.until("\">\n", "after a tool name");
    if (r.at("\n" + std::string(kInvokeClose))) ++r.pos;  // an empty argument list renders as a blank line
    const std::string arguments = parse_arguments(r, name);
    r.expect(kInvokeClose, "closing an invoke");
    r.expect("\n", "after an invoke");
    calls.push_back({{"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}});
  }
  r.expect(kToolCallsEnd, "closing the tool calls");
  r.expect(tok::kEos, "after the tool calls");
  if (r.pos != block.size()) fail("text after the end of sentence");
  return calls;
}

void check_clean(const std::string& text, const char* what) {
  for (const std::string_view bad : {tok::kBos, tok::kEos, tok::kThinkOpen, tok::kThinkClose, tok::kDsml})
    if (text.find(bad) != std::string::npos) fail(std::string(what) + " contains \"" + std::string(bad) + "\"");
}

}  // namespace

ParsedCompletion parse_completion(std::string_view text, ThinkingMode mode) {
  ParsedCompletion out;
  if (mode == ThinkingMode::kThinking) {
    const size_t close = text.find(tok::kThinkClose);
    const size_t calls = text.find(kToolCallsStart);
    if (close == std::string_view::npos || (calls != std::string_view::npos && calls < close))
      fail("no </think> before the answer");
    out.reasoning_content = text.substr(0, close);
    text.remove_prefix(close + tok::kThinkClose.size());
  }
  const size_t eos = text.find(tok::kEos);
  const size_t calls = text.find(kToolCallsStart);
  if (eos == std::string_view::npos && calls == std::string_view::npos) fail("no end of sentence");
  if (calls != std::string_view::npos && (eos == std::string_view::npos || calls < eos)) {
    out.content = text.substr(0, calls);
    out.tool_calls = parse_tool_calls(text.substr(calls + kToolCallsStart.size()));
  } else {
    out.content = text.substr(0, eos);
    if (eos + tok::kEos.size() != text.size()) fail("text after the end of sentence");
  }
  check_clean(out.reasoning_content, "reasoning");
  check_clean(out.content, "content");
  return out;
}

ChatJson ParsedCompletion::to_message() const {
  return {{"role", "assistant"}, {"content", content}, {"reasoning_content", reasoning_content}, {"tool_calls", tool_calls}};
}

}  // namespace dsv4
