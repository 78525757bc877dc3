// The arithmetic `dsv4 info` prints: parameter counts, bytes read per decoded token, KV-cache
// sizes (model-spec §7) and a per-device memory estimate, all derived from the config and the
// tensor inventory, so they hold for any model of the architecture.
#pragma once
#include <cstdint>
#include <map>

#include "weights/inventory.h"
#include "weights/model_config.h"

namespace dsv4 {

struct ParamStats {
  int64_t total = 0;         // main model parameters (logical weights; scales not counted)
  int64_t mtp = 0;           // MTP block(s)
  int64_t active = 0;        // per token: all main weights except the embedding table, with only
                             // n_activated_experts of n_routed_experts routed experts per layer
  uint64_t bytes_main = 0;   // bytes as stored (incl. scales), main model
  uint64_t bytes_mtp = 0;
  uint64_t bytes_per_token = 0;  // weight bytes one decode step reads: active weights + their
                                 // scales + one embedding row (the head is read whole)
};
ParamStats param_stats(const ModelConfig& c, const WeightFormats& f);

// KV cache in the native formats of model-spec §4.6: 584-byte FP8 KV entries (for head_dim 512)
// and 68-byte FP4 index keys (index_head_dim 128).
struct KvStats {
  uint64_t entry_bytes = 0;        // one KV entry: nope e4m3 + one e8m0 per 64 + rope bf16, 8-aligned
  uint64_t index_entry_bytes = 0;  // one index key: e2m1 + one e8m0 per 32
  double bytes_per_token = 0;      // amortised over compressed entries (§7.2 formula)
  uint64_t window_bytes = 0;       // fixed: a window ring of sliding_window entries per layer
  uint64_t state_bytes = 0;        // fixed: fp32 compressor states
  uint64_t at_ctx(int64_t ctx) const;  // compressed entries + index keys + fixed parts
  uint64_t compressed_at_ctx(int64_t ctx) const;
  // per main layer: ratio -> count (for at_ctx)
  std::map<int64_t, int64_t> layers_by_ratio;
};
KvStats kv_stats(const ModelConfig& c);

}  // namespace dsv4
