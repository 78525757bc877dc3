// dsv4 batch: a JSONL file of prompts in, a JSONL file of completions out, sequences batched on
// the GPU with continuous batching (graph/vulkan/batch.h).
//
// Input lines: {"id": ..., "prompt": "..."} or {"id": ..., "messages": [...], "mode": "think"}, with
// optional per-line "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
// "seed". Output lines (in COMPLETION order, appended and flushed as each finishes):
//   {"id", "text", "finish_reason", "prompt_tokens", "completion_tokens", "seconds"}
// or, for a line that cannot run, {"id" (or "line" when there is no id), "error"}.
// Resume: ids already in the output file (results or errors) are skipped, so rerunning after a
// crash or Ctrl-C finishes the rest without duplicates.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "cli/batch_input.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/runtime.h"
#include "graph/vulkan/batch.h"

namespace dsv4::cli {

namespace {

using nlohmann::json;

std::atomic<bool> g_stop{false};
extern "C" void on_batch_sigint(int) { g_stop = true; }

struct BatchArgs {
  RuntimeArgs rt;
  std::string input, output, mode = "chat";
  int64_t max_tokens = 256;
  gpu::SlotSampling sampling;
};

// The ids (as canonical JSON) an existing output file already holds.
std::set<std::string> finished_ids(const std::string& path) {
  std::set<std::string> ids;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    try {
      const json j = json::parse(line);
      if (j.contains("id")) ids.insert(j["id"].dump());
      else if (j.contains("line")) ids.insert("line " + j["line"].dump());  // a bad line without an id
    } catch (const json::exception&) {  // a torn last line from a crash: that id reruns
    }
  }
  return ids;
}

// The command's sampling flags with a line's overrides. The seed defaults to one derived from the
// id, so results do not depend on the order or batch size.
gpu::SlotSampling line_sampling(const BatchLineOverrides& o, gpu::SlotSampling s, const std::string& id_key) {
  s.seed = o.seed ? *o.seed : s.seed * 0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(id_key);
  s.temperature = o.temperature.value_or(s.temperature);
  s.top_p = o.top_p.value_or(s.top_p);
  s.top_k = o.top_k.value_or(s.top_k);
  s.min_p = o.min_p.value_or(s.min_p);
  s.repetition_penalty = o.repetition_penalty.value_or(s.repetition_penalty);
  return s;
}

void append(std::ofstream& out, const json& j) {
  out << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  out.flush();
}

void batch(const BatchArgs& a) {
  if (a.max_tokens < 1) throw std::invalid_argument("--max-tokens must be >= 1");
  std::ifstream in(a.input);
  if (!in) throw std::runtime_error("cannot read --input " + a.input);
  const std::set<std::string> done_ids = finished_ids(a.output);
  std::unique_ptr<Runtime> rt = open_runtime(a.rt, true);
  const Tokenizer& tok = *rt->tokenizer;
  bool torn = false;  // a crash may have left a last line without its newline: start a fresh one
  {
    std::ifstream prev(a.output, std::ios::binary | std::ios::ate);
    if (prev && prev.tellg() > 0) {
      prev.seekg(-1, std::ios::end);
      torn = prev.get() != '\n';
    }
  }
  std::ofstream out(a.output, std::ios::app);
  if (!out) throw std::runtime_error("cannot write --output " + a.output);
  if (torn) out << "\n";

  const BatchLineContext context{tok, a.mode, a.rt.ctx};
  std::vector<gpu::BatchRequest> reqs;
  std::map<std::string, json> ids;  // request key -> the id as given
  int64_t skipped = 0, errors = 0, line_no = 0;
  std::set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (done_ids.count("line " + std::to_string(line_no))) {
      ++skipped;
      continue;
    }
    try {
      std::optional<BatchLine> l = parse_batch_line(line, context, [&](const std::string& key) { return done_ids.count(key) > 0; });
      if (!l) {
        ++skipped;
        continue;
      }
      if (!seen.insert(l->key).second) throw BatchLineError("duplicate id " + l->key, l->id);
      gpu::BatchRequest r;
      r.id = l->key;
      r.max_tokens = l->overrides.max_tokens.value_or(a.max_tokens);
      r.sampling = line_sampling(l->overrides, a.sampling, l->key);
      r.prompt = std::move(l->prompt);
      ids[l->key] = l->id;
      reqs.push_back(std::move(r));
    } catch (const BatchLineError& e) {
      ++errors;
      json rec = e.id().is_null() ? json{{"line", line_no}} : json{{"id", e.id()}};
      rec["error"] = e.what();
      append(out, rec);
    }
  }
  const size_t total = reqs.size();
  std::fprintf(stderr, "dsv4 batch: %zu to run, %lld already done, %lld bad lines (error records written)\n", total,
               (long long)skipped, (long long)errors);
  std::signal(SIGINT, on_batch_sigint);
  size_t completed = 0;
  int64_t tokens = 0;
  gpu::BatchRunner runner(*rt->executor, {int32_t(rt->cfg.eos_token_id)});
  gpu::BatchStats st;
  try {
    st = runner.run(
      std::move(reqs),
      [&](gpu::BatchResult&& r) {
        std::vector<int32_t> ids_out = r.tokens;
        if (!ids_out.empty() && ids_out.back() == int32_t(rt->cfg.eos_token_id)) ids_out.pop_back();
        append(out, {{"id", ids[r.id]},
                     {"text", tok.decode_generated(ids_out)},
                     {"finish_reason", r.finish_reason},
                     {"prompt_tokens", r.prompt_tokens},
                     {"completion_tokens", int64_t(r.tokens.size())},
                     {"seconds", r.seconds}});
        ++completed;
        tokens += int64_t(r.tokens.size());
      },
      [&](const gpu::BatchStats& s) {
        const double rate = double(s.generated) / std::max(s.seconds, 1e-9);
        const double eta = completed ? s.seconds / double(completed) * double(total - completed) : 0;
        std::fprintf(stderr, "\r[batch] %zu/%zu done | %.1f tok/s | ETA %.0f s   ", completed, total, rate, eta);
        std::fflush(stderr);
      },
      [] { return g_stop.load(); });
  } catch (const std::exception& e) {
    if (!is_device_fault(e)) throw;
    // Finished results are already flushed; sequences in flight get no record, so they rerun.
    std::fprintf(stderr, "\n");
    const int status = report_error(e);
    std::fprintf(stderr, "dsv4 batch: %zu of %zu completions were written to %s before the fault; rerun the same "
                         "command to resume (finished ids are skipped)\n", completed, total, a.output.c_str());
    throw AlreadyReported{status};
  }
  std::fprintf(stderr, "\n[batch] %zu/%zu completed, %lld errors, %lld skipped | %lld tokens in %.1f s (%.1f tok/s) | "
                       "%lld decode steps, %lld prefill steps\n",
               completed, total, (long long)errors, (long long)skipped, (long long)tokens, st.seconds,
               double(tokens) / std::max(st.seconds, 1e-9), (long long)st.decode_steps, (long long)st.prefill_steps);
  if (g_stop) throw std::runtime_error("interrupted: finished results are in " + a.output + "; rerun to resume");
}

}  // namespace

void add_sampling_options(CLI::App* cmd, gpu::SlotSampling& s);  // cmd_run.cpp

void add_batch_command(CLI::App& app) {
  auto a = std::make_shared<BatchArgs>();
  auto* cmd = app.add_subcommand("batch", "Offline batch inference: JSONL prompts in, JSONL completions out");
  add_runtime_options(cmd, a->rt);
  cmd->add_option("--input", a->input, "JSONL: {\"id\", \"prompt\"} or {\"id\", \"messages\", \"mode\"} per line")->required();
  cmd->add_option("--output", a->output, "JSONL results, appended in completion order; existing ids are skipped")
      ->required();
  cmd->add_option("--batch", a->rt.seqs, "Sequences decoded together")->check(CLI::Range(1u, 256u));
  cmd->add_option("--max-tokens", a->max_tokens, "Default most tokens per completion");
  cmd->add_option("--mode", a->mode, "Default reasoning mode for lines without one")
      ->check(CLI::IsMember({"chat", "think", "think-max"}));
  add_sampling_options(cmd, a->sampling);
  cmd->callback([a] { batch(*a); });
}

}  // namespace dsv4::cli
