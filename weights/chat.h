// The DeepSeek-V4 prompt encoder (the official encoding_dsv4.py, as described in
// tests/data/encoding/RULES.md; model-spec §5.2): a conversation of OpenAI-style messages ->
// the prompt, as segments so that template special tokens are inserted structurally while
// message content is always encoded as plain text.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "weights/chat_json.h"

namespace dsv4 {

struct PromptSegment {
  enum class Kind {
    kSpecial,   // a control token of the template (BOS, <｜User｜>, </think>...)
    kTemplate,  // fixed template text (tools block, DSML call syntax); tokenized like the reference
    kContent,   // text from the caller (message content, reasoning, schemas, arguments)
  };
  Kind kind;
  std::string text;
};

struct Prompt {
  std::vector<PromptSegment> segments;
  std::string text() const;  // the rendered prompt string, byte-exact with the reference
};

enum class ThinkingMode { kChat, kThinking };
enum class ReasoningEffort { kDefault, kHigh, kMax };  // kHigh renders like kDefault

struct ChatOptions {
  ThinkingMode thinking_mode = ThinkingMode::kThinking;
  ReasoningEffort reasoning_effort = ReasoningEffort::kDefault;
  bool drop_thinking = true;
  bool add_default_bos_token = true;
};

// The three reasoning modes of the model card: "chat" (Non-think), "think" (Think High),
// "think-max" (Think Max). Throws std::invalid_argument for anything else.
ChatOptions chat_options_for_mode(std::string_view mode);

// `messages`: a JSON array of message objects (RULES.md §2). `context`: earlier messages whose
// encoding is already in the KV cache (§8); only the new messages are rendered. Throws
// std::invalid_argument naming the message at fault for input the reference rejects.
Prompt encode_messages(const ChatJson& messages, const ChatOptions& options,
                       const ChatJson& context = ChatJson::array());

// The fixed strings of the template (RULES.md §1).
namespace chat_tokens {
inline constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kUser = "<｜User｜>";
inline constexpr std::string_view kAssistant = "<｜Assistant｜>";
inline constexpr std::string_view kLatestReminder = "<｜latest_reminder｜>";
inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";
inline constexpr std::string_view kDsml = "｜DSML｜";
}  // namespace chat_tokens

}  // namespace dsv4
