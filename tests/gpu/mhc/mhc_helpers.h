// Shared by the mHC / norm / sampling kernel tests: steps with ragged rows, random fp32 vectors and
// bit comparisons.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "gpu/common/gpu_test_helpers.h"

namespace dsv4::test {

// A ModelConfig just rich enough for RopeSlots (these kernels read no rope tables).
inline ModelConfig mhc_test_config() {
  ModelConfig c;
  c.rope_head_dim = 8;
  c.compress_ratios = {0};
  c.original_seq_len = 0;
  return c;
}

// Rows of several sequences: sequence s gets counts[s] consecutive rows from position 3 + s,
// token ids from `tokens` in turn.
inline std::vector<gpu::StepRow> ragged_rows(const std::vector<int>& counts, const std::vector<int64_t>& tokens) {
  std::vector<gpu::StepRow> rows;
  size_t next = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    std::vector<int64_t> t;
    for (int i = 0; i < counts[s]; ++i) t.push_back(tokens[next++ % tokens.size()]);
    gpu::append_rows(rows, int64_t(3 + s), t, int32_t(s));
  }
  return rows;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float mean, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(mean, sd);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Count of positions whose fp32 bit patterns differ.
inline size_t bit_mismatches(const std::vector<float>& a, const std::vector<float>& b, size_t begin, size_t end) {
  size_t bad = 0;
  for (size_t i = begin; i < end; ++i) bad += std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i]);
  return bad;
}

// Largest distance in units in the last place between same-signed finite floats (the fp32 bit
// patterns' difference), over [begin, end).
inline int64_t max_ulps(const std::vector<float>& a, const std::vector<float>& b, size_t begin, size_t end) {
  int64_t worst = 0;
  for (size_t i = begin; i < end; ++i) {
    const int64_t d = int64_t(std::bit_cast<uint32_t>(a[i])) - int64_t(std::bit_cast<uint32_t>(b[i]));
    worst = std::max(worst, d < 0 ? -d : d);
  }
  return worst;
}

}  // namespace dsv4::test
