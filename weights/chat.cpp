#include "weights/chat.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace dsv4 {
namespace {

using Kind = PromptSegment::Kind;
namespace tok = chat_tokens;

constexpr std::string_view kThinkMaxPrefix =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n"
    "\n";

constexpr std::string_view kToolsBlockHead =
    "## Tools\n"
    "\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    "\"<｜DSML｜tool_calls>\" block like the following:\n"
    "\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n"
    "\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types (numbers, "
    "booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n"
    "\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n"
    "\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n"
    "\n"
    "### Available Tool Schemas\n"
    "\n";
constexpr std::string_view kToolsBlockTail =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n";
constexpr std::string_view kResponseFormatHead =
    "## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

// Task token of a message's `task` (RULES.md §1); throws for an unknown task.
std::string task_token(const std::string& task, size_t index) {
  static const char* const kTasks[] = {"action", "query", "authority", "domain", "title", "read_url"};
  for (const char* t : kTasks)
    if (task == t) return std::string("<｜") + t + "｜>";
  throw std::invalid_argument("messages[" + std::to_string(index) + "]: unknown task \"" + task + "\"");
}

bool has(const ChatJson& m, const char* key) { return m.is_object() && m.contains(key) && !m[key].is_null(); }

std::string role_of(const ChatJson& m) { return has(m, "role") && m["role"].is_string() ? m["role"].get<std::string>() : ""; }

// A list field (tools, tool_calls, content_blocks) with at least one element; null or missing ->
// false. Other types are rejected: indexing a string or object as a list threw nlohmann's
// type_error, which escaped as a crash (found by tokenizer_fuzz).
bool has_nonempty_list(const ChatJson& m, const char* key) {
  if (!has(m, key)) return false;
  if (!m[key].is_array()) throw std::invalid_argument(std::string("a message's ") + key + " must be a list");
  return !m[key].empty();
}

// A string field; null or missing -> "". Other types are rejected rather than guessed at.
std::string text_of(const ChatJson& m, const char* key, size_t index) {
  if (!has(m, key)) return "";
  if (!m[key].is_string())
    throw std::invalid_argument("messages[" + std::to_string(index) + "]." + key + " must be a string");
  return m[key].get<std::string>();
}

// ---- Preprocessing (RULES.md §3) ------------------------------------------------------------

bool is_user_with_blocks(const ChatJson& m) { return role_of(m) == "user" && has(m, "content_blocks"); }

ChatJson merge_tool_messages(const ChatJson& messages) {
  ChatJson out = ChatJson::array();
  for (const ChatJson& msg : messages) {
    const std::string role = role_of(msg);
    if (role == "tool") {
      ChatJson block = {{"type", "tool_result"},
                        {"tool_use_id", msg.value("tool_call_id", ChatJson(""))},
                        {"content", msg.value("content", ChatJson(""))}};
      if (!out.empty() && is_user_with_blocks(out.back()))
        out.back()["content_blocks"].push_back(std::move(block));
      else
        out.push_back({{"role", "user"}, {"content_blocks", ChatJson::array({std::move(block)})}});
    } else if (role == "user") {
      ChatJson block = {{"type", "text"}, {"text", msg.value("content", ChatJson(""))}};
      if (!out.empty() && is_user_with_blocks(out.back()) && !has(out.back(), "task")) {
        out.back()["content_blocks"].push_back(std::move(block));
      } else {
        ChatJson merged = {{"role", "user"}, {"content", msg.value("content", ChatJson(""))},
                           {"content_blocks", ChatJson::array({std::move(block)})}};
        for (const char* key : {"task", "wo_eos", "mask"})
          if (msg.contains(key)) merged[key] = msg[key];
        out.push_back(std::move(merged));
      }
    } else {
      out.push_back(msg);
    }
  }
  return out;
}

std::string call_id(const ChatJson& call) {
  if (has(call, "id") && call["id"].is_string()) return call["id"].get<std::string>();
  if (has(call, "function") && has(call["function"], "id") && call["function"]["id"].is_string())
    return call["function"]["id"].get<std::string>();
  return "";
}

void sort_tool_results_by_call_order(ChatJson& messages) {
  std::map<std::string, int> position;
  for (ChatJson& msg : messages) {
    const std::string role = role_of(msg);
    if (role == "assistant" && has_nonempty_list(msg, "tool_calls")) {
      position.clear();
      for (size_t k = 0; k < msg["tool_calls"].size(); ++k) {
        const std::string id = call_id(msg["tool_calls"][k]);
        if (!id.empty()) position[id] = static_cast<int>(k);
      }
    } else if (role == "user" && has(msg, "content_blocks") && !position.empty()) {
      ChatJson& blocks = msg["content_blocks"];
      std::vector<size_t> slots;
      std::vector<ChatJson> results;
      for (size_t k = 0; k < blocks.size(); ++k)
        if (blocks[k].value("type", "") == "tool_result") {
          slots.push_back(k);
          results.push_back(blocks[k]);
        }
      if (results.size() < 2) continue;
      auto rank = [&](const ChatJson& b) {
        const ChatJson id = b.value("tool_use_id", ChatJson());
        const auto it = id.is_string() ? position.find(id.get<std::string>()) : position.end();
        return it == position.end() ? 0 : it->second;
      };
      std::stable_sort(results.begin(), results.end(),
                       [&](const ChatJson& a, const ChatJson& b) { return rank(a) < rank(b); });
      for (size_t k = 0; k < slots.size(); ++k) blocks[slots[k]] = std::move(results[k]);
    }
  }
}

ChatJson merge_and_order(const ChatJson& messages) {
  ChatJson out = merge_tool_messages(messages);
  sort_tool_results_by_call_order(out);
  return out;
}

int last_user_index(const ChatJson& messages) {
  int last = -1;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string role = role_of(messages[i]);
    if (role == "user" || role == "developer") last = static_cast<int>(i);
  }
  return last;
}

ChatJson drop_thinking_messages(const ChatJson& messages) {
  const int last = last_user_index(messages);
  ChatJson out = ChatJson::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatJson& m = messages[i];
    const std::string role = role_of(m);
    if (role == "user" || role == "system" || role == "tool" || role == "latest_reminder" ||
        role == "direct_search_results" || static_cast<int>(i) >= last) {
      out.push_back(m);
    } else if (role == "assistant") {
      ChatJson copy = m;
      copy.erase("reasoning_content");
      out.push_back(std::move(copy));
    }  // anything else before the last user turn is dropped
  }
  return out;
}

// ---- Rendering (RULES.md §4) -----------------------------------------------------------------

struct Renderer {
  const ChatJson& m;  // the whole preprocessed list
  bool thinking;
  bool max_effort;
  bool drop;
  int last_user;
  Prompt& prompt;

  void special(std::string_view s) { prompt.segments.push_back({Kind::kSpecial, std::string(s)}); }
  void templ(std::string_view s) { prompt.segments.push_back({Kind::kTemplate, std::string(s)}); }
  void content(std::string s) {
    if (!s.empty()) prompt.segments.push_back({Kind::kContent, std::move(s)});
  }

  void tools_and_format(const ChatJson& msg) {
    if (has_nonempty_list(msg, "tools")) {
      templ("\n\n");
      templ(kToolsBlockHead);
      std::string schemas;
      for (size_t k = 0; k < msg["tools"].size(); ++k) {
        const ChatJson& t = msg["tools"][k];
        if (k) schemas += '\n';
        schemas += python_json_dumps(has(t, "function") ? t["function"] : ChatJson());
      }
      content(std::move(schemas));
      templ(kToolsBlockTail);
    }
    if (has(msg, "response_format")) {
      templ("\n\n");
      templ(kResponseFormatHead);
      content(python_json_dumps(msg["response_format"]));
    }
  }

  void tool_result_content(const ChatJson& c) {
    if (c.is_string()) {
      content(c.get<std::string>());
    } else if (c.is_array()) {
      for (size_t k = 0; k < c.size(); ++k) {
        if (k) templ("\n\n");
        const std::string type = c[k].is_object() ? c[k].value("type", "") : "";
        if (type == "text")
          content(c[k].value("text", ""));
        else
          templ("[Unsupported " + type + "]");
      }
    } else if (!c.is_null()) {
      content(python_json_dumps(c));
    }
  }

  void user(const ChatJson& msg, size_t i) {
    special(tok::kUser);
    if (!has_nonempty_list(msg, "content_blocks")) {
      content(text_of(msg, "content", i));
      return;
    }
    const ChatJson& blocks = msg["content_blocks"];
    for (size_t k = 0; k < blocks.size(); ++k) {
      if (k) templ("\n\n");
      const ChatJson& b = blocks[k];
      const std::string type = b.is_object() ? b.value("type", "") : "";
      if (type == "text") {
        content(text_of(b, "text", i));
      } else if (type == "tool_result") {
        templ("<tool_result>");
        tool_result_content(b.value("content", ChatJson("")));
        templ("</tool_result>");
      } else {
        templ("[Unsupported " + type + "]");
      }
    }
  }

  void tool_call(const ChatJson& call, size_t i) {
    const ChatJson fn = has(call, "function") ? call["function"] : ChatJson::object();
    templ("<｜DSML｜invoke name=\"");
    content(text_of(fn, "name", i));
    templ("\">\n");
    ChatJson args = ChatJson::object();
    if (has(fn, "arguments") && fn["arguments"].is_object()) {
      args = fn["arguments"];
    } else {
      const std::string raw = text_of(fn, "arguments", i);
      ChatJson parsed = ChatJson::parse(raw, nullptr, /*allow_exceptions=*/false);
      // Arguments that are not a JSON object travel whole as one string parameter.
      args = parsed.is_object() ? parsed : ChatJson{{"arguments", raw}};
    }
    bool first = true;
    for (const auto& [key, value] : args.items()) {
      if (!first) templ("\n");
      first = false;
      templ("<｜DSML｜parameter name=\"");
      content(key);
      templ(value.is_string() ? "\" string=\"true\">" : "\" string=\"false\">");
      content(value.is_string() ? value.get<std::string>() : python_json_dumps(value));
      templ("</｜DSML｜parameter>");
    }
    templ("\n</｜DSML｜invoke>");
  }

  void assistant(const ChatJson& msg, size_t i) {
    const bool after_task = i > 0 && has(m[i - 1], "task");
    if (thinking && !after_task && (!drop || static_cast<int>(i) > last_user)) {
      content(text_of(msg, "reasoning_content", i));
      special(tok::kThinkClose);
    }
    content(text_of(msg, "content", i));
    if (has_nonempty_list(msg, "tool_calls")) {
      templ("\n\n<｜DSML｜tool_calls>\n");
      for (size_t k = 0; k < msg["tool_calls"].size(); ++k) {
        if (k) templ("\n");
        tool_call(msg["tool_calls"][k], i);
      }
      templ("\n</｜DSML｜tool_calls>");
    }
    if (!(has(msg, "wo_eos") && msg["wo_eos"].is_boolean() && msg["wo_eos"].get<bool>())) special(tok::kEos);
  }

  void transition(const ChatJson& msg, size_t i) {
    if (i + 1 < m.size()) {
      const std::string next = role_of(m[i + 1]);
      if (next != "assistant" && next != "latest_reminder") return;
    }
    const std::string role = role_of(msg);
    if (has(msg, "task")) {
      const std::string task = text_of(msg, "task", i);
      if (task == "action") {
        special(tok::kAssistant);
        special(thinking ? tok::kThinkOpen : tok::kThinkClose);
      }
      special(task_token(task, i));
    } else if (role == "user" || role == "developer") {
      special(tok::kAssistant);
      special(thinking && (!drop || static_cast<int>(i) >= last_user) ? tok::kThinkOpen : tok::kThinkClose);
    }
  }

  void render(size_t i) {
    const ChatJson& msg = m[i];
    if (!msg.is_object()) throw std::invalid_argument("messages[" + std::to_string(i) + "] is not an object");
    if (has(msg, "task")) task_token(text_of(msg, "task", i), i);  // validate early
    if (i == 0 && thinking && max_effort) templ(kThinkMaxPrefix);
    const std::string role = role_of(msg);
    if (role == "system") {
      content(text_of(msg, "content", i));
      tools_and_format(msg);
    } else if (role == "user") {
      user(msg, i);
    } else if (role == "developer") {
      const std::string c = text_of(msg, "content", i);
      if (c.empty()) throw std::invalid_argument("messages[" + std::to_string(i) + "]: developer message without content");
      special(tok::kUser);
      content(c);
      tools_and_format(msg);
    } else if (role == "latest_reminder") {
      special(tok::kLatestReminder);
      content(text_of(msg, "content", i));
    } else if (role == "assistant") {
      assistant(msg, i);
    } else {
      throw std::invalid_argument("messages[" + std::to_string(i) + "]: unsupported role \"" + role + "\"");
    }
    transition(msg, i);
  }
};

bool any_tools(const ChatJson& messages) {
  return std::any_of(messages.begin(), messages.end(), [](const ChatJson& m) { return has_nonempty_list(m, "tools"); });
}

void check_message_list(const ChatJson& messages, const char* what) {
  if (!messages.is_array()) throw std::invalid_argument(std::string(what) + " must be a JSON array of messages");
  for (size_t i = 0; i < messages.size(); ++i)
    if (!messages[i].is_object())
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) + "] is not an object");
}

}  // namespace

std::string Prompt::text() const {
  std::string s;
  for (const PromptSegment& seg : segments) s += seg.text;
  return s;
}

ChatOptions chat_options_for_mode(std::string_view mode) {
  ChatOptions o;
  if (mode == "chat") {
    o.thinking_mode = ThinkingMode::kChat;
  } else if (mode == "think" || mode == "think-high") {
    o.thinking_mode = ThinkingMode::kThinking;
  } else if (mode == "think-max") {
    o.thinking_mode = ThinkingMode::kThinking;
    o.reasoning_effort = ReasoningEffort::kMax;
  } else {
    throw std::invalid_argument("unknown mode \"" + std::string(mode) + "\" (chat, think or think-max)");
  }
  return o;
}

Prompt encode_messages(const ChatJson& messages, const ChatOptions& options, const ChatJson& context) {
  check_message_list(messages, "messages");
  check_message_list(context, "context");
  ChatJson full = context;
  for (const ChatJson& m : merge_tool_messages(messages)) full.push_back(m);
  sort_tool_results_by_call_order(full);

  const bool thinking = options.thinking_mode == ThinkingMode::kThinking;
  const bool drop = options.drop_thinking && !any_tools(full);
  size_t first_rendered = context.size();
  if (thinking && drop) {
    const size_t context_len = drop_thinking_messages(merge_and_order(context)).size();
    full = drop_thinking_messages(full);
    first_rendered = context_len <= full.size() ? context_len : full.size();
  }
  Prompt prompt;
  Renderer r{full, thinking, options.reasoning_effort == ReasoningEffort::kMax, drop, last_user_index(full), prompt};
  if (options.add_default_bos_token && context.empty()) r.special(tok::kBos);
  for (size_t i = first_rendered; i < full.size(); ++i) r.render(i);
  return prompt;
}

}  // namespace dsv4
