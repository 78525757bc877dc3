// Synthetic DeepSeek-V4 models in the released format (`dsv4 make-model`): config.json, sharded
// safetensors + index, real FP8 128x128 block quantisation and real MXFP4 (e2m1 + per-32 E8M0)
// of random weights whose spread mimics the tiny-a fixture, so activations stay O(1) through the
// forward pass. Streaming: one tensor chunk in memory at a time. Deterministic for a seed: every
// tensor draws from its own generator seeded by (seed, tensor name).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "weights/inventory.h"
#include "weights/model_config.h"
#include "weights/safetensors_writer.h"

namespace dsv4 {

struct SyntheticOptions {
  std::string preset = "tiny";  // tiny | small | demo | flash | pro
  int64_t layers = -1;          // main layers; -1 = the preset's own count (flash 43, pro 61)
  uint64_t seed = 0;
  ExpertDtype experts = ExpertDtype::FP4;  // FP8 = Base-style: FP8 experts, F32 scales (§2.6)
  std::filesystem::path tokenizer;         // optional: tokenizer.json (or a dir holding one) to copy
};

// The config of a preset truncated to `layers`: real shapes and real compress_ratios for
// flash/pro (+ 0 for the MTP block), min(3, layers) hash layers. Throws ModelError.
ModelConfig synthetic_config(const SyntheticOptions& o);
WeightFormats synthetic_formats(const SyntheticOptions& o);

struct ShardPlan {
  std::string file;  // model-0000i-of-0000n.safetensors
  std::vector<TensorSpec> specs;
  uint64_t bytes() const;
};
// Shard 1: embed; one shard per main layer; last shard: MTP block(s), head, final norm, hc_head.
std::vector<ShardPlan> plan_shards(const ModelConfig& c, const WeightFormats& f);

// done/total in bytes of tensor data; called after every chunk written.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Writes the model into `out` (created; must be empty or absent unless `overwrite`). Checks the
// free disk space first, and re-opens and inventory-checks the result at the end.
void write_synthetic_model(const SyntheticOptions& o, const std::filesystem::path& out, bool overwrite,
                           const ProgressFn& progress = {});

// The random values a tensor is filled with (documented so tests can check the written data).
struct InitRule {
  enum Kind { Normal, Uniform, Constant, Tid2eid } kind = Normal;
  double a = 0, b = 1;  // Normal: mean, std; Uniform: lo, hi; Constant: a
};
InitRule init_rule(const ExpectedTensor& e, const ModelConfig& c);

}  // namespace dsv4
