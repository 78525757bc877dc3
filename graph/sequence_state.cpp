#include "graph/sequence_state.h"

#include <algorithm>

namespace dsv4::graph {

SequenceState::SequenceState(const ModelConfig& cfg) {
  const int64_t total = cfg.n_layers + cfg.n_mtp_layers;
  blocks.resize(size_t(total));
  for (int64_t i = 0; i < total; ++i) {
    BlockCache& b = blocks[size_t(i)];
    b.window.assign(size_t(cfg.window_size * cfg.head_dim), 0.f);
    const int64_t ratio = cfg.ratio(i);
    if (ratio > 0) b.compressor = CompressorState(ratio, cfg.head_dim);
    if (ratio == 4) b.index_compressor = CompressorState(ratio, cfg.index_head_dim);
  }
}

void SequenceState::reset() {
  position = 0;
  for (BlockCache& b : blocks) {
    std::fill(b.window.begin(), b.window.end(), 0.f);
    b.compressed.clear();
    b.index_keys.clear();
    b.compressor.reset();
    b.index_compressor.reset();
  }
}

}  // namespace dsv4::graph
