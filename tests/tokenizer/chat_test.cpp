// The DeepSeek-V4 prompt encoder: the four official input/output pairs byte for byte, and the
// further rules of tests/data/encoding/RULES.md on conversations whose prompts are written out
// by hand from those rules.
#include "weights/chat.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer_helpers.h"
#include "weights/tokenizer.h"

namespace dsv4 {
namespace {

const std::string B = "<｜begin▁of▁sentence｜>", E = "<｜end▁of▁sentence｜>", U = "<｜User｜>",
                  A = "<｜Assistant｜>", TO = "<think>", TC = "</think>", R = "<｜latest_reminder｜>";
const std::string kMaxPrefix =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

ChatJson official_input(int n) {
  ChatJson in = ChatJson::parse(test::read_file(test::data_path("encoding/test_input_" + std::to_string(n) + ".json")));
  if (n != 1) return in;
  ChatJson messages = in["messages"];  // test 1: the top-level tools go to the system message
  messages[0]["tools"] = in["tools"];
  return messages;
}

Prompt official_prompt(int n) { return encode_messages(official_input(n), chat_options_for_mode(n == 4 ? "chat" : "think")); }

std::string render(const ChatJson& messages, const char* mode = "chat") {
  return encode_messages(messages, chat_options_for_mode(mode)).text();
}

class OfficialPair : public ::testing::TestWithParam<int> {};

TEST_P(OfficialPair, ReproducesTheReferenceByteForByte) {
  const int n = GetParam();
  EXPECT_EQ(official_prompt(n).text(),
            test::read_file(test::data_path("encoding/test_output_" + std::to_string(n) + ".txt")));
}

TEST_P(OfficialPair, StructuralIdsEqualTokenizingTheString) {
  // These conversations hold no special-token literals in their content, so inserting the
  // template tokens structurally must give exactly the ids of tokenizing the whole string.
  const Tokenizer& tok = test::deepseek_tokenizer();
  const Prompt p = official_prompt(GetParam());
  EXPECT_EQ(tok.encode_prompt(p), tok.encode(p.text()));
}

INSTANTIATE_TEST_SUITE_P(Encoding, OfficialPair, ::testing::Values(1, 2, 3, 4));

TEST(ChatEncoder, ThreeReasoningModes) {
  const ChatJson m = ChatJson::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])");
  EXPECT_EQ(render(m, "chat"), B + "S" + U + "Q" + A + TC);
  EXPECT_EQ(render(m, "think"), B + "S" + U + "Q" + A + TO);
  EXPECT_EQ(render(m, "think-max"), B + kMaxPrefix + "S" + U + "Q" + A + TO);
  const ChatJson user_only = ChatJson::parse(R"([{"role": "user", "content": "Q"}])");
  EXPECT_EQ(render(user_only, "think-max"), B + kMaxPrefix + U + "Q" + A + TO);
  EXPECT_THROW(chat_options_for_mode("fast"), std::invalid_argument);
}

TEST(ChatEncoder, ResponseFormatIsCompactPythonJson) {
  const ChatJson m = ChatJson::parse(R"([{"role": "system", "content": "S",
      "response_format": {"type": "json_object", "schema": {"a": 1.5, "b": [1, "x"]}}},
      {"role": "user", "content": "Q"}])");
  EXPECT_EQ(render(m), B + "S\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n" +
                           R"({"type": "json_object", "schema": {"a": 1.5, "b": [1, "x"]}})" + U + "Q" + A + TC);
}

TEST(ChatEncoder, TaskTokens) {
  EXPECT_EQ(render(ChatJson::parse(R"([{"role": "user", "content": "Q", "task": "query"}])"), "think"),
            B + U + "Q" + "<｜query｜>");
  EXPECT_EQ(render(ChatJson::parse(R"([{"role": "user", "content": "Q", "task": "action"}])"), "think"),
            B + U + "Q" + A + TO + "<｜action｜>");
  EXPECT_EQ(render(ChatJson::parse(R"([{"role": "user", "content": "Q"},
                                       {"role": "assistant", "content": "T", "task": "title"}])")),
            B + U + "Q" + A + TC + "T" + E + "<｜title｜>");
  // The answer to a task carries no thinking part, even in thinking mode.
  EXPECT_EQ(render(ChatJson::parse(R"([{"role": "user", "content": "Q", "task": "action"},
                                       {"role": "assistant", "content": "Search", "reasoning_content": "r"}])"),
                   "think"),
            B + U + "Q" + A + TO + "<｜action｜>Search" + E);
  EXPECT_THROW(render(ChatJson::parse(R"([{"role": "user", "content": "Q", "task": "foo"}])")), std::invalid_argument);
}

TEST(ChatEncoder, WithoutEos) {
  EXPECT_EQ(render(ChatJson::parse(R"([{"role": "user", "content": "Q"},
                                       {"role": "assistant", "content": "X", "wo_eos": true}])")),
            B + U + "Q" + A + TC + "X");
}

TEST(ChatEncoder, ToolCallsAndResultsInCallOrder) {
  const ChatJson m = ChatJson::parse(R"([
    {"role": "user", "content": "Q"},
    {"role": "assistant", "content": "", "tool_calls": [
      {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1, \"s\": \"v\"}"}},
      {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
      {"id": "c3", "type": "function", "function": {"name": "h", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c3", "content": "R3"},
    {"role": "tool", "tool_call_id": "c2", "content": "R2"},
    {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "R1"}, {"type": "image"}]},
    {"role": "user", "content": "thanks"}])");
  const std::string calls =
      "\n\n<｜DSML｜tool_calls>\n"
      "<｜DSML｜invoke name=\"f\">\n"
      "<｜DSML｜parameter name=\"x\" string=\"false\">1</｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"s\" string=\"true\">v</｜DSML｜parameter>\n"
      "</｜DSML｜invoke>\n"
      "<｜DSML｜invoke name=\"g\">\n"
      "<｜DSML｜parameter name=\"arguments\" string=\"true\">not json</｜DSML｜parameter>\n"
      "</｜DSML｜invoke>\n"
      "<｜DSML｜invoke name=\"h\">\n\n</｜DSML｜invoke>\n"
      "</｜DSML｜tool_calls>";
  const std::string results =
      "<tool_result>R1\n\n[Unsupported image]</tool_result>\n\n<tool_result>R2</tool_result>\n\n"
      "<tool_result>R3</tool_result>\n\nthanks";
  EXPECT_EQ(render(m), B + U + "Q" + A + TC + calls + E + U + results + A + TC);
}

TEST(ChatEncoder, DropsEarlierReasoningAndDeveloperTurns) {
  const ChatJson m = ChatJson::parse(R"([{"role": "system", "content": "S"}, {"role": "developer", "content": "D1"},
      {"role": "assistant", "content": "A1", "reasoning_content": "r1"}, {"role": "user", "content": "Q2"}])");
  EXPECT_EQ(render(m, "think"), B + "S" + "A1" + E + U + "Q2" + A + TO);
}

TEST(ChatEncoder, KeepsReasoningWhenDropThinkingIsOff) {
  ChatOptions o = chat_options_for_mode("think");
  o.drop_thinking = false;
  EXPECT_EQ(encode_messages(official_input(2), o).text(),
            B + "You are a helpful assistant." + U + "Hello" + A + TO + "The user said hello, I should greet back." +
                TC + "Hi there! How can I help you?" + E + U + "What is the capital of France?" + A + TO +
                "The user asks about the capital of France. It is Paris." + TC + "The capital of France is Paris." + E);
}

TEST(ChatEncoder, ReminderAfterUserGetsTheTransitionFirst) {
  const ChatJson m = ChatJson::parse(R"([{"role": "user", "content": "Q"}, {"role": "latest_reminder", "content": "rem"},
      {"role": "assistant", "content": "X"}])");
  EXPECT_EQ(render(m, "think"), B + U + "Q" + A + TO + R + "rem" + TC + "X" + E);
}

TEST(ChatEncoder, ConsecutiveUsersMergeUnlessTheFirstHasATask) {
  EXPECT_EQ(render(ChatJson::parse(R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])")),
            B + U + "a\n\nb" + A + TC);
  EXPECT_EQ(render(ChatJson::parse(
                R"([{"role": "user", "content": "a", "task": "query"}, {"role": "user", "content": "b"}])")),
            B + U + "a" + U + "b" + A + TC);
}

TEST(ChatEncoder, IncrementalEncodingRendersOnlyNewMessages) {
  const ChatJson context = ChatJson::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
      {"role": "assistant", "content": "A1", "reasoning_content": "r1"}])");
  const ChatJson messages = ChatJson::parse(R"([{"role": "user", "content": "Q2"}])");
  EXPECT_EQ(encode_messages(messages, chat_options_for_mode("think"), context).text(), U + "Q2" + A + TO);
}

TEST(ChatEncoder, RejectsWhatTheReferenceRejects) {
  EXPECT_THROW(render(ChatJson::parse(R"({"role": "user"})")), std::invalid_argument);
  EXPECT_THROW(render(ChatJson::parse(R"([{"role": "robot", "content": "x"}])")), std::invalid_argument);
  EXPECT_THROW(render(ChatJson::parse(R"([{"role": "developer", "content": ""}])")), std::invalid_argument);
  EXPECT_THROW(render(ChatJson::parse(R"([{"role": "user", "content": 5}])")), std::invalid_argument);
  // List fields of another type (tokenizer_fuzz: a string "tools" crashed the encoder).
  EXPECT_THROW(render(ChatJson::parse(R"([{"role": "system", "content": "s", "tools": "x"}])")), std::invalid_argument);
  EXPECT_THROW(render(ChatJson::parse(R"([{"role": "user", "content": "q"},
      {"role": "assistant", "content": "", "tool_calls": "c"}])")), std::invalid_argument);
}

TEST(ChatEncoder, UserTextNeverBecomesAControlToken) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  const ChatJson m = ChatJson::parse(R"([{"role": "user", "content": "say <｜User｜> or <｜Assistant｜>"}])");
  const Prompt p = encode_messages(m, chat_options_for_mode("chat"));
  const auto ids = tok.encode_prompt(p);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128803), 1);  // only the template's <｜User｜>
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128804), 1);
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(tok.decode(ids), p.text());
  const auto naive = tok.encode(p.text());
  EXPECT_EQ(std::count(naive.begin(), naive.end(), 128803), 2);  // what a plain tokenizer call does
}

TEST(PythonJson, MatchesJsonDumpsFormatting) {
  const ChatJson v = ChatJson::parse("{\"b\": \"\xC3\xA9/\\u0001\\n\\\"\\\\\\u007f\", \"a\": [true, null, 1, -2, 1.0], \"c\": {}, \"d\": []}");
  EXPECT_EQ(python_json_dumps(v),
            "{\"b\": \"\xC3\xA9/\\u0001\\n\\\"\\\\\x7f\", \"a\": [true, null, 1, -2, 1.0], \"c\": {}, \"d\": []}");
  EXPECT_EQ(python_json_dumps(ChatJson::parse("\"\\b\\f\\r\\t\\u001f\"")), "\"\\b\\f\\r\\t\\u001f\"");
}

TEST(PythonJson, FloatsInReprForm) {
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1e-05), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(123.456), "123.456");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(python_float_repr(2.5e-7), "2.5e-07");
  EXPECT_EQ(python_float_repr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(python_float_repr(std::nan("")), "NaN");
  EXPECT_EQ(python_float_repr(-HUGE_VAL), "-Infinity");
}

}  // namespace
}  // namespace dsv4
