// Reading back one assistant turn the model generated (tests/data/encoding/RULES.md §7, the
// reference's parse_message_from_completion_text): reasoning, content and DSML tool calls. Strict
// like the reference: malformed output is an error, never silently repaired.
#pragma once
#include <string>
#include <string_view>

#include "weights/chat.h"

namespace dsv4 {

struct ParsedCompletion {
  std::string reasoning_content;  // empty in chat mode
  std::string content;
  // OpenAI format, without ids: [{"type": "function", "function": {"name", "arguments"}}],
  // arguments a JSON string with Python's separators.
  ChatJson tool_calls = ChatJson::array();
  ChatJson to_message() const;  // {"role": "assistant", "content", "reasoning_content", "tool_calls"}
};

// `text`: the generated text after the prompt, through the final EOS. Throws
// std::invalid_argument saying what is malformed.
ParsedCompletion parse_completion(std::string_view text, ThinkingMode mode);

}  // namespace dsv4
