// Parsing generated assistant turns back (RULES.md §7), on the turns of the official outputs
// with the values RULES.md §10 lists, and on hand-written malformed completions.
#include "weights/chat_completion.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer_helpers.h"

namespace dsv4 {
namespace {

const std::string kAssistantThink = "<｜Assistant｜><think>";

// The generated part of the assistant turn that starts after the n-th "<｜Assistant｜><think>"
// (n = -1: the last one), up to the next user turn or the end.
std::string assistant_turn(const std::string& output, int n) {
  size_t pos = n < 0 ? output.rfind(kAssistantThink) : std::string::npos;
  for (int k = 0, from = 0; n >= 0 && k <= n; ++k, from = static_cast<int>(pos) + 1) pos = output.find(kAssistantThink, from);
  EXPECT_NE(pos, std::string::npos);
  const size_t start = pos + kAssistantThink.size();
  const size_t end = output.find("<｜User｜>", start);
  return output.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string official_output(int n) {
  return test::read_file(test::data_path("encoding/test_output_" + std::to_string(n) + ".txt"));
}

TEST(ParseCompletion, ToolCallTurnOfOutput1) {
  const ParsedCompletion p = parse_completion(assistant_turn(official_output(1), 0), ThinkingMode::kThinking);
  EXPECT_EQ(p.reasoning_content, "The user wants to know the weather in Beijing. I should use the get_weather tool.");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(p.tool_calls[0]["function"]["arguments"], R"({"location": "Beijing", "unit": "celsius"})");
}

TEST(ParseCompletion, FinalAnswers) {
  const ParsedCompletion p1 = parse_completion(assistant_turn(official_output(1), -1), ThinkingMode::kThinking);
  EXPECT_EQ(p1.reasoning_content, "Got the weather data. Let me format a nice response.");
  EXPECT_NE(p1.content.find("22°C"), std::string::npos);
  EXPECT_TRUE(p1.tool_calls.empty());
  const ParsedCompletion p2 = parse_completion(assistant_turn(official_output(2), -1), ThinkingMode::kThinking);
  EXPECT_EQ(p2.reasoning_content, "The user asks about the capital of France. It is Paris.");
  EXPECT_EQ(p2.content, "The capital of France is Paris.");
  EXPECT_EQ(p2.to_message()["role"], "assistant");
}

TEST(ParseCompletion, ReadsBackWhatTheEncoderWrites) {
  const ChatJson m = ChatJson::parse(R"([{"role": "user", "content": "Q"},
    {"role": "assistant", "content": "Let me look.", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": "{\"x\": [1, 2.5], \"s\": \"a \\\"b\\\"\"}"}},
      {"type": "function", "function": {"name": "h", "arguments": "{}"}}]}])");
  const std::string prompt = encode_messages(m, chat_options_for_mode("chat")).text();
  const std::string turn = prompt.substr(prompt.find("</think>") + 8);
  const ParsedCompletion p = parse_completion(turn, ThinkingMode::kChat);
  EXPECT_EQ(p.content, "Let me look.");
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_EQ(p.tool_calls[0]["function"]["arguments"], R"({"x": [1, 2.5], "s": "a \"b\""})");
  EXPECT_EQ(p.tool_calls[1]["function"]["name"], "h");
  EXPECT_EQ(p.tool_calls[1]["function"]["arguments"], "{}");
}

TEST(ParseCompletion, RejectsMalformedOutput) {
  const std::string E = "<｜end▁of▁sentence｜>";
  EXPECT_THROW(parse_completion("no close" + E, ThinkingMode::kThinking), std::invalid_argument);
  EXPECT_THROW(parse_completion("r</think>no end", ThinkingMode::kThinking), std::invalid_argument);
  EXPECT_THROW(parse_completion("answer" + E + "more", ThinkingMode::kChat), std::invalid_argument);
  EXPECT_THROW(parse_completion("a <think> b" + E, ThinkingMode::kChat), std::invalid_argument);
  const std::string dup =
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
      "<｜DSML｜parameter name=\"k\" string=\"true\">1</｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"k\" string=\"true\">2</｜DSML｜parameter>\n"
      "</｜DSML｜invoke>\n</｜DSML｜tool_calls>" + E;
  EXPECT_THROW(parse_completion(dup, ThinkingMode::kChat), std::invalid_argument);
  EXPECT_NO_THROW(parse_completion("ok" + E, ThinkingMode::kChat));
}

}  // namespace
}  // namespace dsv4
