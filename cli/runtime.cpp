#include "cli/runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "vk/device_select.h"
#include "vk/error.h"
#include "weights/model_dir.h"
#include "weights/synthetic_model.h"

#ifndef DSV4_DEMO_TOKENIZER
#define DSV4_DEMO_TOKENIZER ""
#endif

namespace dsv4::cli {

namespace fs = std::filesystem;

void add_runtime_options(CLI::App* cmd, RuntimeArgs& a) {
  cmd->add_option("--model", a.model,
                  "Model directory as released (config.json, *.safetensors, tokenizer.json); default: the built-in "
                  "demo model (random weights)");
  cmd->add_option("--ctx", a.ctx, "Context length in tokens per sequence (up to the model's maximum)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--device", a.device, "Vulkan device: index or name substring (see `dsv4 devices`); env DSV4_DEVICE");
  cmd->add_option("--chunk", a.chunk, "Prefill chunk: prompt tokens per GPU step")->check(CLI::Range(1u, 8192u));
}

fs::path demo_model_dir() {
  fs::path base;
  if (const char* d = std::getenv("DSV4_CACHE_DIR"); d && *d) base = d;
  else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) base = fs::path(x) / "dsv4";
  else if (const char* h = std::getenv("HOME"); h && *h) base = fs::path(h) / ".cache" / "dsv4";
  else base = fs::temp_directory_path() / "dsv4";
  return base / "demo-model";
}

// Creates the demo model the first time (a few seconds), atomically: written to a temporary
// directory and renamed, so an interrupted run never leaves a half-written model behind.
fs::path ensure_demo_model() {
  const fs::path dir = demo_model_dir();
  if (fs::exists(dir / "config.json")) return dir;
  std::fprintf(stderr, "dsv4: creating the built-in demo model in %s (once)\n", dir.string().c_str());
  SyntheticOptions o;
  o.preset = "demo";
  o.seed = 4;
  const fs::path tok = DSV4_DEMO_TOKENIZER;
  if (!tok.empty() && fs::exists(tok)) o.tokenizer = tok;
  fs::create_directories(dir.parent_path());
  const fs::path tmp = dir.string() + ".partial";
  fs::remove_all(tmp);
  write_synthetic_model(o, tmp, true);
  fs::rename(tmp, dir);
  return dir;
}

namespace {

void print_progress(const gpu::LoadProgress& p) {
  static int last = -1;
  const int pct = p.total ? int(100.0 * double(p.done) / double(p.total)) : 100;
  if (pct == last) return;
  last = pct;
  const double mb = double(p.done) / 1e6;
  std::fprintf(stderr, "\rloading weights: %3d%%  %.0f / %.0f MB  %.0f MB/s", pct, mb, double(p.total) / 1e6,
               p.seconds > 0 ? mb / p.seconds : 0.0);
  if (p.done >= p.total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace

void open_executor(Runtime& rt, const RuntimeArgs& a) {
  rt.executor.reset();  // its caches go before the new ones are allocated
  gpu::ExecutorOptions eo;
  eo.max_context = a.ctx;
  eo.max_seqs = a.seqs;
  eo.prefill_chunk = uint32_t(std::min<int64_t>(a.chunk, a.ctx));
  eo.timestamps = a.timestamps;
  eo.reorder = a.reorder;
  eo.fuse_act_quant = a.fuse_act_quant;
  eo.merge_gemvs = a.merge_gemvs;
  eo.merge_expert_gemvs = a.merge_expert_gemvs;
  eo.fp4_wide_gemv = a.fp4_wide_gemv;
  eo.attn_split_keys = a.attn_split_keys;
  eo.fuse_q_heads = a.fuse_q_heads;
  using F = gpu::ExecutorOptions::HcFusion;
  eo.hc_fusion = a.hc_fusion == "none"       ? F::None
                 : a.hc_fusion == "full"     ? F::Full
                 : a.hc_fusion == "partials" ? F::Partials
                                             : F::Auto;
  try {
    rt.executor = std::make_unique<gpu::VulkanExecutor>(*rt.device, rt.model, eo, rt.pipelines.get());
  } catch (const vk::OutOfDeviceMemory& e) {
    throw std::runtime_error("the KV caches and activations for --ctx " + std::to_string(a.ctx) + " x " +
                             std::to_string(a.seqs) + " sequence(s) do not fit beside the weights; lower --ctx, --batch "
                             "or --chunk (`dsv4 info --plan` shows the sizes): " + std::string(e.what()));
  }
}

std::unique_ptr<Runtime> open_runtime(const RuntimeArgs& a, bool tokenizer) {
  auto rt = std::make_unique<Runtime>();
  rt->demo = a.model.empty();
  rt->dir = rt->demo ? ensure_demo_model() : fs::path(a.model);
  ModelDir md = open_model_dir(rt->dir);
  rt->cfg = md.config;
  if (a.ctx > md.config.max_position_embeddings && md.config.max_position_embeddings > 0)
    throw std::invalid_argument("--ctx " + std::to_string(a.ctx) + " exceeds the model's maximum of " +
                                std::to_string(md.config.max_position_embeddings) + " tokens");
  if (tokenizer) {
    if (!fs::exists(rt->dir / "tokenizer.json"))
      throw std::runtime_error(rt->dir.string() + " has no tokenizer.json (needed for text; `dsv4 eval` takes token ids)");
    rt->tokenizer.emplace(Tokenizer::load(rt->dir / "tokenizer.json"));
  }
  rt->instance = std::make_unique<vk::Instance>();
  vk::DeviceOptions options;
  options.pipeline_statistics = a.kernel_stats;
  rt->device = vk::Device::open(*rt->instance, vk::device_selector(a.device), options);
  rt->pipelines = std::make_unique<vk::PipelineCache>(*rt->device);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    rt->model = std::make_shared<gpu::DeviceModel>(*rt->device, md, a.quiet ? gpu::ProgressFn{} : gpu::ProgressFn(print_progress));
  } catch (const vk::OutOfDeviceMemory& e) {
    throw std::runtime_error("the weights of " + rt->dir.string() + " (" + std::to_string(md.checkpoint.total_bytes() >> 20) +
                             " MiB) do not fit on " + rt->device->caps().name + ": " + e.what());
  }
  rt->load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  open_executor(*rt, a);
  return rt;
}

}  // namespace dsv4::cli
