// dsv4 run: one prompt in, streamed text out, on the Vulkan executor. Without --model it runs the
// built-in demo model (random weights: it shows the pipeline working, not a language model).
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cli/commands.h"
#include "cli/runtime.h"
#include "cli/text_stream.h"
#include "graph/vulkan/generate.h"
#include "weights/chat.h"

namespace dsv4::cli {

namespace {

struct RunArgs {
  RuntimeArgs rt;
  std::string prompt, messages, mode = "chat";
  bool raw = false, stats = false;
  int64_t max_tokens = 128;
  gpu::SlotSampling sampling;
  std::vector<std::string> stop;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The prompt ids: raw text, a single user message, or a messages file, through the chat template.
std::vector<int32_t> prompt_ids(const RunArgs& a, const Tokenizer& tok) {
  if (a.prompt.empty() == a.messages.empty()) throw std::invalid_argument("give --prompt or --messages (one of them)");
  if (a.raw) {
    if (a.prompt.empty()) throw std::invalid_argument("--raw takes --prompt text");
    return tok.encode(a.prompt);
  }
  ChatJson messages;
  if (!a.prompt.empty()) {
    messages = ChatJson::array({ChatJson{{"role", "user"}, {"content", a.prompt}}});
  } else {
    try {
      messages = ChatJson::parse(read_file(a.messages));
    } catch (const nlohmann::json::exception& e) {
      throw std::invalid_argument(a.messages + ": not valid JSON (" + std::string(e.what()) + ")");
    }
  }
  return tok.encode_prompt(encode_messages(messages, chat_options_for_mode(a.mode)));
}

void run(const RunArgs& a) {
  if (a.max_tokens < 1) throw std::invalid_argument("--max-tokens must be >= 1");
  std::unique_ptr<Runtime> rt = open_runtime(a.rt, true);
  const Tokenizer& tok = *rt->tokenizer;
  const std::vector<int32_t> ids = prompt_ids(a, tok);
  if (int64_t(ids.size()) >= a.rt.ctx)
    throw std::invalid_argument("the prompt has " + std::to_string(ids.size()) + " tokens; --ctx " +
                                std::to_string(a.rt.ctx) + " leaves no room to generate (raise --ctx)");
  if (rt->demo)
    std::fprintf(stderr, "dsv4: built-in demo model (%s) with RANDOM weights: the text is noise. "
                         "Pass --model DIR to run a real checkpoint.\n", rt->dir.string().c_str());
  gpu::GenerateOptions g;
  g.max_tokens = std::min<int64_t>(a.max_tokens, a.rt.ctx - int64_t(ids.size()));
  g.sampling = a.sampling;
  g.stop_ids = {int32_t(rt->cfg.eos_token_id)};
  TextStream out(tok, a.stop);
  gpu::GenerateResult r;
  try {
    r = gpu::generate(*rt->executor, 0, 0, ids, g, [&](int32_t id) {
      if (id == int32_t(rt->cfg.eos_token_id)) return true;
      return out.push(id);
    });
  } catch (const std::exception&) {  // e.g. the device was lost mid-reply
    std::printf("\n");                // the error line must not trail the partial text
    throw;
  }
  out.finish();
  std::printf("\n");
  std::fflush(stdout);
  const double pre = double(r.prompt_tokens) / std::max(r.prefill_seconds, 1e-9);
  const double dec = double(r.tokens.size()) / std::max(r.decode_seconds, 1e-9);
  std::fprintf(stderr, "[%s] prefill %lld tokens %.1f tok/s | decode %zu tokens %.1f tok/s | finish: %s\n",
               rt->device->caps().name.c_str(), (long long)r.prompt_tokens, pre, r.tokens.size(), dec,
               r.finish_reason.c_str());
  if (a.stats) {
    const gpu::ExecutorStats& s = rt->executor->stats();
    std::fprintf(stderr,
                 "load %.2f s (%.0f MB on the device) | dispatches: decode step %zu, prefill step %zu | "
                 "recordings %zu | submissions %zu | steps %zu\n",
                 rt->load_seconds, double(rt->model->device_bytes()) / 1e6, s.decode_dispatches, s.prefill_dispatches,
                 s.recordings, s.submissions, s.steps);
  }
}

}  // namespace

void add_sampling_options(CLI::App* cmd, gpu::SlotSampling& s) {
  cmd->add_option("--temperature", s.temperature, "Sampling temperature; 0 = greedy (default)")->check(CLI::Range(0.f, 100.f));
  cmd->add_option("--top-k", s.top_k, "Keep the K most likely tokens (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", s.top_p, "Nucleus sampling: smallest set with probability >= P")->check(CLI::Range(0.f, 1.f));
  cmd->add_option("--min-p", s.min_p, "Drop tokens below MIN_P x the top probability")->check(CLI::Range(0.f, 1.f));
  cmd->add_option("--repetition-penalty", s.repetition_penalty, "Penalty > 1 for tokens already in the sequence")
      ->check(CLI::Range(0.01f, 100.f));
  cmd->add_option("--seed", s.seed, "Random seed: the same seed gives the same tokens");
}

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt on the GPU (streams the reply)");
  add_runtime_options(cmd, a->rt);
  cmd->add_option("--prompt", a->prompt, "The user's message (rendered with the chat template)");
  cmd->add_option("--messages", a->messages, "A JSON file with an array of chat messages (role, content, ...)");
  cmd->add_option("--mode", a->mode, "Reasoning mode: chat | think | think-max")
      ->check(CLI::IsMember({"chat", "think", "think-max"}));
  cmd->add_flag("--raw", a->raw, "Feed --prompt as plain text, without the chat template");
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens to generate");
  cmd->add_option("--stop", a->stop, "Stop when the output contains this string (repeatable)");
  cmd->add_flag("--stats", a->stats, "Print load time, dispatches per step, recordings and submissions");
  add_sampling_options(cmd, a->sampling);
  cmd->callback([a] { run(*a); });
}

}  // namespace dsv4::cli
