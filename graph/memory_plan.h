// MemoryPlan (design.md §4.1): every buffer a run of the model needs, with its size, decided from
// the config and the run options before anything is allocated: weights as stored, residual
// streams and per-chunk activations, per-layer window rings, compressed KV and index-key caches in
// their native formats (model-spec §4.6), fp32 compressor states, logits. `dsv4 info` prints it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "weights/inventory.h"
#include "weights/model_config.h"

namespace dsv4::graph {

struct RunOptions {
  int64_t max_context = 4096;   // tokens per sequence (ModelArgs.max_seq_len default)
  int64_t batch_size = 1;       // independent sequences
  int64_t prefill_chunk = 512;  // tokens per prefill step (decode steps are 1 token per sequence)
  bool with_mtp = false;        // also plan the MTP block's weights and caches
};

enum class BufferKind { Weights, Residual, Activation, WindowRing, CompressedKv, IndexKeys, CompressorState, Logits };
const char* buffer_kind_name(BufferKind k);

struct BufferSpec {
  std::string name;    // "layers.3.window", "embed", "act.q", ...
  BufferKind kind;
  std::string format;  // "fp8 kv entry 584 B", "bf16", "fp32", "as stored", ...
  uint64_t bytes = 0;
};

struct MemoryPlan {
  RunOptions options;
  uint64_t kv_entry_bytes = 0;     // one main KV entry: nope e4m3 + e8m0 per 64 + rope bf16, 8-aligned
  uint64_t index_entry_bytes = 0;  // one index key: e2m1 + e8m0 per 32, 4-aligned
  std::vector<BufferSpec> buffers;
  uint64_t total() const;
  uint64_t total(BufferKind k) const;
};

// Native entry sizes (model-spec §4.6): 584 B / 68 B for the release shapes.
uint64_t kv_entry_bytes(const ModelConfig& c);
uint64_t index_entry_bytes(const ModelConfig& c);

// Throws std::invalid_argument for non-positive options.
MemoryPlan plan_memory(const ModelConfig& c, const WeightFormats& formats, const RunOptions& options);

// A human-readable table: totals per kind, then every non-weight buffer (weights grouped per block).
std::string describe(const MemoryPlan& plan);

}  // namespace dsv4::graph
