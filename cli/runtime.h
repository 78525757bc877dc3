// What run, chat, eval --backend vulkan, bench and batch share: flags that choose the model,
// device and session shape, and opening all of it (the built-in demo model when no --model).
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "graph/vulkan/device_model.h"
#include "graph/vulkan/executor.h"
#include "vk/device.h"
#include "vk/instance.h"
#include "vk/pipeline_cache.h"
#include "weights/tokenizer.h"

namespace dsv4::cli {

struct RuntimeArgs {
  std::string model;        // empty: the demo model
  std::string device;       // --device
  int64_t ctx = 4096;       // --ctx
  uint32_t chunk = 128;     // --chunk: prefill rows per step
  uint32_t seqs = 1;        // sequence slots (batch)
  bool quiet = false;       // no progress bar
  bool timestamps = false;  // per-dispatch GPU times (bench)
  bool reorder = true;      // gpu::ExecutorOptions::reorder (bench --in-op-order turns it off)
  bool fuse_act_quant = true;  // gpu::ExecutorOptions::fuse_act_quant (bench --act-quant-dispatch turns it off)
  bool merge_gemvs = true;     // gpu::ExecutorOptions::merge_gemvs (bench --gemvs-apart turns it off)
  bool merge_expert_gemvs = false;  // gpu::ExecutorOptions::merge_expert_gemvs (bench --merge-expert-gemvs)
  bool fp4_wide_gemv = false;  // gpu::ExecutorOptions::fp4_wide_gemv (bench --fp4-wide-gemv)
  bool kernel_stats = false;  // vk::DeviceOptions::pipeline_statistics (bench --kernel-stats)
  std::string hc_fusion = "auto";  // gpu::ExecutorOptions::hc_fusion: auto | none | partials | full (bench --hc-fusion)
  uint32_t attn_split_keys = 8;    // gpu::ExecutorOptions::attn_split_keys (bench --attn-split-keys)
  bool fuse_q_heads = true;        // gpu::ExecutorOptions::fuse_q_heads (bench --q-heads-dispatch turns it off)
};

// --model, --ctx, --device, --chunk.
void add_runtime_options(CLI::App* cmd, RuntimeArgs& args);

struct Runtime {
  std::filesystem::path dir;
  bool demo = false;
  ModelConfig cfg;
  std::unique_ptr<vk::Instance> instance;
  std::unique_ptr<vk::Device> device;
  std::unique_ptr<vk::PipelineCache> pipelines;
  std::shared_ptr<gpu::DeviceModel> model;
  std::unique_ptr<gpu::VulkanExecutor> executor;
  std::optional<Tokenizer> tokenizer;
  double load_seconds = 0;
};

// Opens the model (or creates the demo model once in the cache directory), the device, uploads the
// weights with a progress bar on stderr, and builds the executor. `tokenizer`: load tokenizer.json
// from the model directory (error if missing).
std::unique_ptr<Runtime> open_runtime(const RuntimeArgs& args, bool tokenizer);
// (Re)creates rt.executor for args' context, sequence slots, chunk and timestamps, keeping the
// loaded weights (bench sweeps session shapes without reloading).
void open_executor(Runtime& rt, const RuntimeArgs& args);

// Where the demo model lives: $DSV4_CACHE_DIR, $XDG_CACHE_HOME/dsv4 or ~/.cache/dsv4, + "demo-model".
std::filesystem::path demo_model_dir();
// demo_model_dir(), after creating the demo model there if it does not exist yet.
std::filesystem::path ensure_demo_model();

}  // namespace dsv4::cli
