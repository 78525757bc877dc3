// Rotary position embedding with the YaRN frequency ramp (model-spec §3.4): interleaved pairs
// (x[2i], x[2i+1]) on the LAST rope_dim dims of a head, fp32 math, bf16 result.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "weights/model_config.h"

namespace dsv4::graph {

struct RopeTable {
  std::vector<float> freqs;  // rope_dim / 2 frequencies f_i (after YaRN, if on)
  int64_t rope_dim = 0;
};

// base^(-2i/dim), and when original_seq_len > 0 the YaRN blend between f_i and f_i/factor.
RopeTable make_rope_table(int64_t rope_dim, double base, int64_t original_seq_len, double factor,
                          double beta_fast, double beta_slow);

// The table a layer uses: compress_rope_theta + YaRN when its ratio > 0, else rope_theta plain.
RopeTable rope_table_for_layer(const ModelConfig& cfg, int64_t layer);

// YaRN correction range [low, high] (exposed for tests: 15 / 25 for the release constants).
void yarn_correction_range(int64_t rope_dim, double base, int64_t original_seq_len, double beta_fast,
                           double beta_slow, int64_t* low, int64_t* high);

// Rotates the last rope_dim values of `head` by position `pos` (conjugate if `inverse`), bf16 out.
void apply_rope(const RopeTable& table, std::span<float> head, int64_t pos, bool inverse = false);

}  // namespace dsv4::graph
