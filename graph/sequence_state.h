// Per-sequence state of the CPU reference (model-spec §3.9): per block a window ring, the
// compressed KV cache, the index-key cache and the two compressor states; and the position.
// Cache entries are stored as their bf16-exact float values (lossless w.r.t. the native
// 584-byte / 68-byte formats, model-spec §4.6).
#pragma once
#include <cstdint>
#include <vector>

#include "graph/compressor.h"
#include "weights/model_config.h"

namespace dsv4::graph {

struct BlockCache {
  std::vector<float> window;      // [window_size, head_dim]; position p lives in slot p % window_size
  std::vector<float> compressed;  // [entries, head_dim], entry c covers positions [c r, c r + r)
  std::vector<float> index_keys;  // [entries, index_head_dim] (ratio-4 blocks)
  CompressorState compressor, index_compressor;
};

struct SequenceState {
  int64_t position = 0;             // tokens consumed so far
  std::vector<BlockCache> blocks;   // main blocks, then MTP blocks

  explicit SequenceState(const ModelConfig& cfg);
  void reset();  // back to an empty sequence (compressor states -inf / 0)
};

}  // namespace dsv4::graph
