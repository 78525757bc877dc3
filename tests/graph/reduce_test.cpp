// Accuracy of the long fp32 reductions (graph/reduce.h) and of the RMSNorm mean built on them: a
// left-to-right fp32 sum of a few hundred squares is off by tens of ulps, which flipped bf16
// roundings of the compressed KV entries and moved the tiny-a logits by ~4 % from position 3 on.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/norms.h"
#include "graph/reduce.h"

namespace dsv4::graph {
namespace {

TEST(PairwiseSum, KeepsSmallTermsNextToALargeOne) {
  // [2^24, 1 x 15]: left to right every +1 is a tie that rounds back to 2^24 (result 2^24). In
  // halves of 8, [2^24 + seven 1s] = 2^24 and [eight 1s] = 8, so the sum is 2^24 + 8.
  std::vector<float> x(16, 1.f);
  x[0] = 16777216.f;
  EXPECT_EQ(pairwise_sum(x.size(), [&](size_t i) { return x[i]; }), 16777224.f);
}

TEST(PairwiseSum, ShortRangesAreSummedInOrderFromBegin) {
  const std::vector<float> x = {1.f, 2.f, 3.f, 4.f, 5.f};
  EXPECT_EQ(pairwise_sum(3, [&](size_t i) { return x[i]; }, 2), 12.f);  // 3 + 4 + 5
  EXPECT_EQ(pairwise_sum(0, [&](size_t i) { return x[i]; }), 0.f);
}

// One large square first, then 255 squares of 1.125 ulp(4096) each: left to right every addition
// rounds down by 0.125 ulp (~32 ulps in all); the exact sum is computed in long double.
TEST(MeanOfSquares, WithinTwoUlpsOfTheExactMean) {
  std::vector<float> x(256, 1.5f * 0x1p-6f);  // square 2.25 * 2^-12, exact in fp32
  x[0] = 64.f;                                // square 4096
  long double exact = 0;
  for (float v : x) exact += static_cast<long double>(v) * v;
  const float ref = float(exact / 256);
  const float got = mean_of_squares(x);
  const float ulp = std::nextafter(ref, 2 * ref) - ref;
  EXPECT_LE(std::fabs(got - ref), 2 * ulp) << "got " << got << ", exact " << ref;
}

}  // namespace
}  // namespace dsv4::graph
