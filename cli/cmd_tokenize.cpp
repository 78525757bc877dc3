// `dsv4 tokenize` (text <-> ids with a model's tokenizer.json) and `dsv4 encode-chat` (the
// DeepSeek-V4 prompt of a conversation). Output is byte-exact so scripts can diff it against the
// Hugging Face reference.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "weights/chat.h"
#include "weights/tokenizer.h"
#include "weights/unicode.h"

namespace dsv4::cli {
namespace {

std::string read_whole_file(const std::string& path) {
  if (path == "-") {  // stdin
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  return line;
}

std::vector<int32_t> parse_ids(const std::string& text, const std::string& source) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < 0 || v > INT32_MAX)
      throw std::runtime_error(source + ": \"" + word + "\" is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

std::string checked_utf8(std::string text, const std::string& source) {
  if (const auto bad = unicode::find_invalid_utf8(text))
    throw std::runtime_error(source + ": invalid UTF-8 at byte " + std::to_string(*bad));
  return text;
}

// --jsonl: one {"id": ..., "text": ...} per line in, one line of ids per line out (or, with
// --decode, {"id": ..., "ids": [...]} in and {"id": ..., "text": ...} out).
void run_jsonl(const Tokenizer& tok, const std::string& path, bool decode) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    const std::string where = path + ":" + std::to_string(n);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (const auto bad = unicode::find_invalid_utf8(line))
      throw std::runtime_error(where + ": invalid UTF-8 at byte " + std::to_string(*bad));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // e.g. a lone surrogate escape "\ud800"
      const std::string what = e.what();
      throw std::runtime_error(where + ": not valid JSON: " + what.substr(what.find(']') + 2));
    }
    if (!j.is_object()) throw std::runtime_error(where + ": not a JSON object");
    if (decode) {
      if (!j.contains("ids") || !j["ids"].is_array()) throw std::runtime_error(where + ": no \"ids\" list");
      std::vector<int32_t> ids;
      for (const auto& v : j["ids"]) {
        if (!v.is_number_integer()) throw std::runtime_error(where + ": \"ids\" holds a non-integer");
        const int64_t id = v.get<int64_t>();
        if (id < 0 || id > INT32_MAX) throw std::runtime_error(where + ": unknown token id " + std::to_string(id));
        ids.push_back(static_cast<int32_t>(id));
      }
      nlohmann::json out;
      out["id"] = j.contains("id") ? j["id"] : nlohmann::json();
      try {
        out["text"] = tok.decode(ids);
      } catch (const std::exception& e) {
        throw std::runtime_error(where + ": " + e.what());
      }
      write(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    } else {
      if (!j.contains("text") || !j["text"].is_string()) throw std::runtime_error(where + ": no \"text\" string");
      write(join_ids(tok.encode(j["text"].get<std::string>())) + "\n");
    }
  }
}

struct TokenizeArgs {
  std::string tokenizer, file, jsonl;
  std::vector<std::string> text;  // several words are joined by single spaces
  bool decode = false;
};

std::string join_words(const std::vector<std::string>& words) {
  std::string s;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) s += ' ';
    s += words[i];
  }
  return s;
}

void run_tokenize(const TokenizeArgs& a) {
  const Tokenizer tok = Tokenizer::load(a.tokenizer);
  if (!a.jsonl.empty()) return run_jsonl(tok, a.jsonl, a.decode);
  const bool from_file = !a.file.empty();
  const std::string input = from_file ? read_whole_file(a.file) : join_words(a.text);
  const std::string source = from_file ? a.file : "the text argument";
  if (a.decode) {
    std::vector<int32_t> ids = parse_ids(input, source);
    write(tok.decode(ids) + "\n");
  } else {
    write(join_ids(tok.encode(checked_utf8(input, source))) + "\n");
  }
}

void add_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand(
      "tokenize",
      "Print the token ids of TEXT (or --file) on one line, separated by spaces, exactly as Hugging Face\n"
      "tokenizers encodes it with add_special_tokens=False (added-token literals in the text are matched;\n"
      "no BOS/EOS is added). --decode turns ids back into text.");
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.json, or a model directory holding one")->required();
  auto* file = cmd->add_option("--file", args->file, "read the text (or, with --decode, the ids) from this file; - is stdin");
  auto* jsonl = cmd->add_option("--jsonl", args->jsonl,
                                "a file of lines {\"id\": ..., \"text\": ...}: print one line of ids per line "
                                "(with --decode: lines {\"id\", \"ids\"} -> {\"id\", \"text\"})");
  auto* text = cmd->add_option("text", args->text,
                               "the text (or, with --decode, the ids); put -- before text that starts with '-'");
  cmd->add_flag("--decode", args->decode, "ids -> text (prints the text and a newline)");
  file->excludes(jsonl)->excludes(text);
  jsonl->excludes(text);
  cmd->callback([args] { run_tokenize(*args); });
}

struct EncodeChatArgs {
  std::string messages, prompt, system, mode = "think", tokenizer;
  bool ids = false;
};

// The conversation: a JSON list of messages, or {"messages": [...], "tools": [...]} where the
// tools are attached to the leading system message (one is added if absent).
ChatJson read_conversation(const EncodeChatArgs& a) {
  ChatJson messages = ChatJson::array();
  if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  if (!a.prompt.empty()) {
    messages.push_back({{"role", "user"}, {"content", a.prompt}});
    return messages;
  }
  const std::string text = checked_utf8(read_whole_file(a.messages), a.messages);
  ChatJson j = ChatJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw std::runtime_error(a.messages + ": not valid JSON");
  ChatJson tools;
  if (j.is_object()) {
    if (!j.contains("messages")) throw std::runtime_error(a.messages + ": an object needs a \"messages\" list");
    if (j.contains("tools")) tools = j["tools"];
    j = ChatJson(j["messages"]);
  }
  if (!j.is_array()) throw std::runtime_error(a.messages + ": expected a list of messages");
  for (auto& m : j) messages.push_back(m);
  if (!tools.is_null()) {
    if (messages.empty() || !messages[0].is_object() || messages[0].value("role", "") != "system")
      messages.insert(messages.begin(), ChatJson{{"role", "system"}, {"content", ""}});
    messages[0]["tools"] = tools;
  }
  return messages;
}

void run_encode_chat(const EncodeChatArgs& a) {
  if (a.messages.empty() == a.prompt.empty()) throw std::runtime_error("encode-chat needs exactly one of --messages, --prompt");
  if (a.ids && a.tokenizer.empty()) throw std::runtime_error("encode-chat --ids needs --tokenizer");
  Prompt prompt;
  try {
    prompt = encode_messages(read_conversation(a), chat_options_for_mode(a.mode));
  } catch (const std::invalid_argument& e) {  // name the input the message index refers to
    throw std::runtime_error((a.messages.empty() ? std::string("--prompt") : a.messages) + ": " + e.what());
  }
  if (a.ids)
    write(join_ids(Tokenizer::load(a.tokenizer).encode_prompt(prompt)) + "\n");
  else
    write(prompt.text());  // no newline added: the output is the prompt, byte for byte
}

void add_encode_chat(CLI::App& app) {
  auto args = std::make_shared<EncodeChatArgs>();
  auto* cmd = app.add_subcommand(
      "encode-chat",
      "Print the DeepSeek-V4 prompt of a conversation, byte for byte as the official encoder renders it\n"
      "(no trailing newline), or with --ids its token ids (template tokens inserted structurally; message\n"
      "text is always encoded as text, so a literal <｜User｜> in it is not a control token).");
  cmd->add_option("--messages", args->messages,
                  "JSON file: a list of {\"role\", \"content\", ...} messages, or {\"messages\": [...], \"tools\": [...]}");
  cmd->add_option("--prompt", args->prompt, "a single user message instead of --messages");
  cmd->add_option("--system", args->system, "a system prompt put before the messages");
  cmd->add_option("--mode", args->mode, "chat (Non-think), think (Think High) or think-max (default: think)")
      ->check(CLI::IsMember({"chat", "think", "think-high", "think-max"}));
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.json or model directory (for --ids)");
  cmd->add_flag("--ids", args->ids, "print token ids instead of the prompt text");
  cmd->callback([args] { run_encode_chat(*args); });
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  add_tokenize(app);
  add_encode_chat(app);
}

}  // namespace dsv4::cli
