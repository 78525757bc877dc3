// Long fp32 reductions of the CPU reference. A plain left-to-right fp32 sum over a few hundred
// terms drifts by ~n ulps, enough to flip a later bf16 rounding and (through the FP8/FP4 steps)
// to move the tiny-a logits by percents; the reference's reductions (torch cascade sums, GPU
// trees) are accurate to ~log2(n) ulps. Pairwise summation matches them at that level.
#pragma once
#include <cstddef>

namespace dsv4::graph {

// Sum of f(i) for i in [0, n), by recursive halving down to blocks of 8 summed in order.
template <class F>
float pairwise_sum(size_t n, F&& f, size_t begin = 0) {
  if (n <= 8) {
    float s = 0.f;
    for (size_t i = 0; i < n; ++i) s += f(begin + i);
    return s;
  }
  const size_t half = n / 2;
  return pairwise_sum(half, f, begin) + pairwise_sum(n - half, f, begin + half);
}

}  // namespace dsv4::graph
