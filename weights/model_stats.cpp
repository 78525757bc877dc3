#include "weights/model_stats.h"

#include <algorithm>

namespace dsv4 {

namespace {

int64_t logical_numel(const ExpectedTensor& e) {
  int64_t n = e.dtypes.front() == DType::I8 ? 2 : 1;  // packed FP4: two values per byte
  for (int64_t d : e.shape) n *= d;
  return n;
}

uint64_t stored_bytes(const ExpectedTensor& e) {
  uint64_t n = dtype_size(e.dtypes.front());
  for (int64_t d : e.shape) n *= uint64_t(d);
  return n;
}

}  // namespace

ParamStats param_stats(const ModelConfig& c, const WeightFormats& f) {
  ParamStats s;
  const double expert_share = double(c.n_activated_experts) / double(c.n_routed_experts);
  double active = 0, per_token = 0;
  for (const auto& e : model_inventory(c, f)) {
    const bool mtp = e.block >= c.n_layers;
    const uint64_t bytes = stored_bytes(e);
    (mtp ? s.bytes_mtp : s.bytes_main) += bytes;
    if (mtp) {
      if (!e.is_scale) s.mtp += logical_numel(e);
      continue;
    }
    const double share = e.expert >= 0 ? expert_share : 1.0;
    if (e.name == "embed.weight") {
      s.total += logical_numel(e);
      per_token += double(c.dim) * 2;  // one row gathered
      continue;
    }
    per_token += double(bytes) * share;
    if (e.is_scale) continue;
    s.total += logical_numel(e);
    active += double(logical_numel(e)) * share;
  }
  s.active = int64_t(active + 0.5);
  s.bytes_per_token = uint64_t(per_token + 0.5);
  return s;
}

KvStats kv_stats(const ModelConfig& c) {
  KvStats k;
  const int64_t nope = c.nope_head_dim(), rope = c.rope_head_dim;
  k.entry_bytes = uint64_t((nope + nope / 64 + 2 * rope + 7) / 8 * 8);
  k.index_entry_bytes = uint64_t((c.index_head_dim / 2 + (c.index_head_dim + 31) / 32 + 3) / 4 * 4);  // 4-aligned
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const int64_t r = c.ratio(i);
    ++k.layers_by_ratio[r];
    k.window_bytes += uint64_t(c.window_size) * k.entry_bytes;
    if (r == 0) continue;
    const int64_t coff = c.compressor_coff(i);
    k.state_bytes += uint64_t(2 * coff * r * coff * c.head_dim * 4);  // kv_state + score_state, fp32
    if (r == 4) {
      k.state_bytes += uint64_t(2 * 8 * 2 * c.index_head_dim * 4);
      k.bytes_per_token += double(k.entry_bytes + k.index_entry_bytes) / 4.0;
    } else {
      k.bytes_per_token += double(k.entry_bytes) / double(r);
    }
  }
  return k;
}

uint64_t KvStats::compressed_at_ctx(int64_t ctx) const {
  uint64_t n = 0;
  for (const auto& [r, count] : layers_by_ratio) {
    if (r == 0) continue;
    const uint64_t entries = uint64_t(ctx / r);
    n += uint64_t(count) * entries * (entry_bytes + (r == 4 ? index_entry_bytes : 0));
  }
  return n;
}

uint64_t KvStats::at_ctx(int64_t ctx) const { return compressed_at_ctx(ctx) + window_bytes + state_bytes; }

}  // namespace dsv4
