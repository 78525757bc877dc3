// dsv4 info: what a model directory holds and what running it costs (weights/model_stats.h).
// A directory with only config.json (or a config.json path) prints the arithmetic alone.
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "graph/memory_plan.h"
#include "weights/error.h"
#include "weights/inventory.h"
#include "weights/model_dir.h"
#include "weights/model_stats.h"
#include "weights/safetensors.h"

namespace dsv4::cli {

namespace {

namespace fs = std::filesystem;

struct InfoArgs {
  std::string model;
  int64_t ctx = 0;  // 0 = max_position_embeddings (or 4096 when the config has none)
  int64_t chunk = 512;
  int64_t batch = 1;
  bool plan = false;
};

// "284B", "1.6T", "13B", "6.8M": the rounding the model cards use.
std::string short_count(double n) {
  char buf[32];
  if (n >= 1e12) std::snprintf(buf, sizeof buf, "%.1fT", n / 1e12);
  else if (n >= 1e10) std::snprintf(buf, sizeof buf, "%.0fB", n / 1e9);
  else if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.1fB", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

std::string bytes(double b) {
  char buf[32];
  if (b >= double(1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  else if (b >= double(1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", b / double(1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.2f KiB", b / 1024);
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

std::string decimal_bytes(double b) {
  char buf[32];
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1f KB", b / 1e3);
  return buf;
}

std::string thousands(uint64_t v) {
  const std::string d = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(d[i]);
  }
  return s;
}

std::string kind_name(int64_t r) {
  if (r == 0) return "sliding-window (ratio 0)";
  if (r == 4) return "CSA (ratio 4, indexer)";
  if (r == 128) return "HCA (ratio 128)";
  return "HCA-like (ratio " + std::to_string(r) + ")";
}

void print_architecture(const ModelConfig& c, ExpertDtype experts) {
  std::printf("architecture: DeepSeek-V4, %" PRId64 " layers + %" PRId64 " MTP block%s\n", c.n_layers, c.n_mtp_layers,
              c.n_mtp_layers == 1 ? "" : "s");
  std::map<int64_t, int64_t> kinds;
  for (int64_t i = 0; i < c.n_layers; ++i) ++kinds[c.ratio(i)];
  for (const auto& [r, n] : kinds) std::printf("  %3" PRId64 " x %s\n", n, kind_name(r).c_str());
  std::printf("  hidden %" PRId64 ", vocab %" PRId64 ", %" PRId64 " heads x %" PRId64 " (rope %" PRId64
              "), q_lora %" PRId64 ", output %" PRId64 " groups x %" PRId64 ", window %" PRId64 "\n",
              c.dim, c.vocab_size, c.n_heads, c.head_dim, c.rope_head_dim, c.q_lora_rank, c.o_groups, c.o_lora_rank,
              c.window_size);
  if (kinds.count(4))
    std::printf("  indexer: %" PRId64 " heads x %" PRId64 ", top-%" PRId64 "\n", c.index_n_heads, c.index_head_dim,
                c.index_topk);
  std::printf("  MoE: %" PRId64 " routed experts (%s), top-%" PRId64 ", + %" PRId64 " shared (FP8), width %" PRId64
              "; %" PRId64 " hash-routed layer%s; mHC %" PRId64 " streams\n",
              c.n_routed_experts, experts == ExpertDtype::FP8 ? "FP8" : "MXFP4", c.n_activated_experts,
              c.n_shared_experts, c.moe_inter_dim, c.n_hash_layers, c.n_hash_layers == 1 ? "" : "s", c.hc_mult);
}

void print_costs(const ModelConfig& c, const WeightFormats& f, int64_t ctx) {
  const ParamStats p = param_stats(c, f);
  std::printf("parameters: %s total / %s active per token (%s / %s; MTP block +%s)\n", short_count(double(p.total)).c_str(),
              short_count(double(p.active)).c_str(), thousands(uint64_t(p.total)).c_str(),
              thousands(uint64_t(p.active)).c_str(), short_count(double(p.mtp)).c_str());
  std::printf("bytes read per decoded token: %s of weights (active experts, dense layers, head)\n",
              decimal_bytes(double(p.bytes_per_token)).c_str());
  const KvStats k = kv_stats(c);
  std::printf("KV cache: %.0f B per token (%.1f KB; native %" PRIu64 "-byte FP8 entries, %" PRIu64
              "-byte FP4 index keys)\n",
              k.bytes_per_token, k.bytes_per_token / 1000, k.entry_bytes, k.index_entry_bytes);
  std::printf("KV cache at ctx %s: %s (+ %s window rings, %s compressor state)\n", thousands(uint64_t(ctx)).c_str(),
              bytes(double(k.compressed_at_ctx(ctx))).c_str(), bytes(double(k.window_bytes)).c_str(),
              bytes(double(k.state_bytes)).c_str());
}

bool has_checkpoint(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "model.safetensors", ec) || fs::exists(dir / "model.safetensors.index.json", ec);
}

// The executor's own plan (graph/memory_plan.h): every buffer it will allocate, by kind.
void print_memory_plan(const ModelConfig& c, const WeightFormats& f, int64_t ctx, const InfoArgs& a) {
  graph::RunOptions o;
  o.max_context = ctx;
  o.batch_size = a.batch;
  o.prefill_chunk = a.chunk;
  const graph::MemoryPlan plan = graph::plan_memory(c, f, o);
  if (a.plan) {
    std::printf("\n%s", graph::describe(plan).c_str());
    return;
  }
  using graph::BufferKind;
  const uint64_t weights = plan.total(BufferKind::Weights);
  const uint64_t caches = plan.total(BufferKind::WindowRing) + plan.total(BufferKind::CompressedKv) +
                          plan.total(BufferKind::IndexKeys) + plan.total(BufferKind::CompressorState);
  std::printf("memory needed on one device (batch %" PRId64 ", ctx %s, prefill chunk %" PRId64 "): %s = weights %s + "
              "KV caches and compressor state %s + streams, activations and logits %s; MTP block not loaded "
              "(--plan lists all %zu buffers)\n",
              o.batch_size, thousands(uint64_t(o.max_context)).c_str(), o.prefill_chunk, bytes(double(plan.total())).c_str(),
              bytes(double(weights)).c_str(), bytes(double(caches)).c_str(),
              bytes(double(plan.total() - weights - caches)).c_str(), plan.buffers.size());
}

void run(const InfoArgs& a) {
  const fs::path path(a.model);
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ModelError(a.model + ": no such file or directory");
  const bool config_only_path = !fs::is_directory(path, ec);
  const fs::path dir = config_only_path ? path.parent_path() : path;
  const ModelConfig c = load_model_config(path);
  const int64_t ctx = a.ctx > 0 ? a.ctx : (c.max_position_embeddings > 0 ? c.max_position_embeddings : 4096);
  std::printf("model: %s\n", a.model.c_str());
  WeightFormats f{c.expert_dtype, DType::F8_E8M0};
  if (!config_only_path && has_checkpoint(dir)) {
    const ModelDir m = open_model_dir(dir);  // all inventory mismatches in one error
    const Checkpoint& ck = m.checkpoint;
    f = m.formats;
    uint64_t on_disk = 0;
    for (const auto& file : ck.files()) on_disk += fs::file_size(file, ec);
    print_architecture(c, f.experts);
    std::printf("checkpoint: %zu file%s, %zu tensors, %s (%s) on disk; inventory complete\n", ck.files().size(),
                ck.files().size() == 1 ? "" : "s", ck.tensors().size(), decimal_bytes(double(on_disk)).c_str(),
                bytes(double(on_disk)).c_str());
  } else {
    print_architecture(c, f.experts);
    std::printf("checkpoint: none (config only); sizes below are computed from the tensor inventory\n");
  }
  print_costs(c, f, ctx);
  print_memory_plan(c, f, ctx, a);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  auto* cmd = app.add_subcommand("info", "Architecture, parameters, bytes per token, KV cache and memory needs");
  cmd->add_option("--model", args->model, "model directory (or a config.json)")->required();
  cmd->add_option("--ctx", args->ctx, "context length for the KV-cache and memory figures (default: the model's maximum)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--chunk", args->chunk, "prefill chunk (tokens) the memory plan sizes activations for")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "sequences decoded together, for the memory plan")->check(CLI::PositiveNumber);
  cmd->add_flag("--plan", args->plan, "list every buffer of the memory plan (weights, streams, caches, scratch)");
  cmd->callback([args] { run(*args); });
}

}  // namespace dsv4::cli
