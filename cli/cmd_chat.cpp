// dsv4 chat: an interactive conversation on the Vulkan executor. The KV cache holds the whole
// conversation; each turn renders only the new messages (encode_messages with the earlier ones as
// context) and continues from the cached position. Ctrl-C stops the current reply, not the session.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "cli/runtime.h"
#include "cli/text_stream.h"
#include "graph/vulkan/generate.h"
#include "weights/chat.h"
#include "weights/chat_completion.h"

namespace dsv4::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

struct ChatArgs {
  RuntimeArgs rt;
  std::string mode = "chat";
  int64_t max_tokens = 1024;
  gpu::SlotSampling sampling;
};

void print_help() {
  std::fprintf(stderr, "commands: /reset (forget the conversation), /mode chat|think|think-max, /quit\n");
}

void chat(const ChatArgs& a) {
  std::unique_ptr<Runtime> rt = open_runtime(a.rt, true);
  const Tokenizer& tok = *rt->tokenizer;
  if (rt->demo) std::fprintf(stderr, "dsv4: demo model with RANDOM weights: replies are noise (use --model DIR).\n");
  std::signal(SIGINT, on_sigint);
  ChatJson history = ChatJson::array();
  std::string mode = a.mode;
  int64_t pos = 0;
  print_help();
  std::string line;
  while (true) {
    std::fprintf(stderr, "\n[%s] you> ", mode.c_str());
    std::fflush(stderr);
    g_interrupted = false;
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      history = ChatJson::array();
      pos = 0;
      std::fprintf(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line.rfind("/mode", 0) == 0) {
      const std::string m = line.size() > 6 ? line.substr(6) : "";
      try {
        chat_options_for_mode(m);
        mode = m;
        history = ChatJson::array();  // the template differs per mode: start over
        pos = 0;
        std::fprintf(stderr, "(mode %s; conversation cleared)\n", mode.c_str());
      } catch (const std::exception&) {
        std::fprintf(stderr, "(unknown mode '%s': chat, think or think-max)\n", m.c_str());
      }
      continue;
    }
    if (line[0] == '/') {
      print_help();
      continue;
    }
    const ChatJson turn = ChatJson::array({ChatJson{{"role", "user"}, {"content", line}}});
    ChatOptions opts = chat_options_for_mode(mode);
    opts.add_default_bos_token = pos == 0;
    const std::vector<int32_t> ids = tok.encode_prompt(encode_messages(turn, opts, history));
    if (pos + int64_t(ids.size()) >= a.rt.ctx) {
      std::fprintf(stderr, "(the conversation is full at %lld tokens; /reset to start over or raise --ctx)\n",
                   (long long)pos);
      continue;
    }
    gpu::GenerateOptions g;
    g.max_tokens = std::min<int64_t>(a.max_tokens, a.rt.ctx - pos - int64_t(ids.size()));
    g.sampling = a.sampling;
    g.stop_ids = {int32_t(rt->cfg.eos_token_id)};
    TextStream out(tok, {});
    std::printf("assistant> ");
    gpu::GenerateResult r;
    try {
      r = gpu::generate(*rt->executor, 0, pos, ids, g, [&](int32_t id) {
        if (g_interrupted) return false;
        if (id == int32_t(rt->cfg.eos_token_id)) return true;
        return out.push(id);
      });
    } catch (const std::exception&) {  // a device fault ends the session: nothing more can run
      std::printf("\n");                // the error line must not trail the partial reply
      throw;
    }
    out.finish();
    std::printf("\n");
    std::fflush(stdout);
    pos += int64_t(ids.size()) + int64_t(r.tokens.size());
    if (g_interrupted) std::fprintf(stderr, "(stopped)\n");
    ChatJson reply = {{"role", "assistant"}, {"content", out.text()}};
    try {  // the reply goes back into the history in the template's own terms
      const ParsedCompletion parsed = parse_completion(out.text() + std::string(chat_tokens::kEos), opts.thinking_mode);
      reply = parsed.to_message();
    } catch (const std::exception&) {  // malformed (e.g. stopped mid-way): keep it as plain content
    }
    history.push_back(turn[0]);
    history.push_back(reply);
    std::fprintf(stderr, "(%.1f tok/s)\n", double(r.tokens.size()) / std::max(r.decode_seconds, 1e-9));
  }
}

}  // namespace

void add_sampling_options(CLI::App* cmd, gpu::SlotSampling& s);  // cmd_run.cpp

void add_chat_command(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  auto* cmd = app.add_subcommand("chat", "Interactive chat on the GPU (/reset, /mode, /quit; Ctrl-C stops a reply)");
  add_runtime_options(cmd, a->rt);
  cmd->add_option("--mode", a->mode, "Reasoning mode: chat | think | think-max")
      ->check(CLI::IsMember({"chat", "think", "think-max"}));
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens per reply");
  add_sampling_options(cmd, a->sampling);
  cmd->callback([a] { chat(*a); });
}

}  // namespace dsv4::cli
