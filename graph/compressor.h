// The KV Compressor (model-spec §3.5.4): gated pooling of `ratio` consecutive tokens into one
// compressed entry, per channel, in fp32; ratio 4 overlaps with the previous window (coff = 2).
// The state is advanced token by token, which reproduces both the prefill and the decode branch.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "graph/rope.h"

namespace dsv4::graph {

struct CompressorState {
  int64_t ratio = 0, d = 0, coff = 1;
  // [coff*ratio, coff*d] fp32: for coff 2 rows [0, ratio) = previous window, [ratio, 2 ratio) =
  // current; for coff 1 rows [0, ratio) = current window.
  std::vector<float> kv, score;

  CompressorState() = default;
  CompressorState(int64_t ratio, int64_t d);
  bool overlap() const { return coff == 2; }
  void reset();  // score -inf, kv 0: the start of every sequence (model-spec §9.16)
};

// Feeds the token at absolute position `pos` (c = wkv(x), g = wgate(x), both coff*d fp32; ape is
// added here). When pos closes a window ((pos+1) % ratio == 0) the pooled fp32 entry is written to
// `pooled` [d] and true is returned.
bool compressor_push(CompressorState& s, int64_t pos, std::span<const float> c, std::span<const float> g,
                     std::span<const float> ape, std::span<float> pooled);

// Post-processing of an emitted main-KV entry: bf16 -> RMSNorm(norm) -> RoPE at position
// `entry * ratio` -> FP8 round-trip of the nope dims (block 64). `entry` [d] in place.
void finish_kv_entry(std::span<float> entry, std::span<const float> norm, float eps, const RopeTable& rope,
                     int64_t rope_pos);

// Post-processing of an emitted index-key entry: bf16 -> RMSNorm -> RoPE -> Hadamard -> FP4 (block 32).
void finish_index_entry(std::span<float> entry, std::span<const float> norm, float eps, const RopeTable& rope,
                        int64_t rope_pos);

}  // namespace dsv4::graph
