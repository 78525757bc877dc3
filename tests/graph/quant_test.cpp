// The quantisation round-trips of model-spec §4.2-4.5 on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/quant.h"

namespace dsv4::graph {
namespace {

TEST(ActQuantFp8, PowerOfTwoScaleAndE4m3Grid) {
  // amax 448 -> scale 2^ceil(log2(1)) = 1: values round on the plain e4m3 grid.
  // 300 lies between e4m3 288 and 320 (spacing 32 at [256, 512)): 300 -> 288 (nearer).
  // 1.0625 is halfway between 1 and 1.125 (spacing 1/8): ties to even mantissa -> 1.
  std::vector<float> x = {448.f, 300.f, 1.0625f, -0.3f};
  act_quant_fp8(x, 4);
  EXPECT_EQ(x[0], 448.f);
  EXPECT_EQ(x[1], 288.f);
  EXPECT_EQ(x[2], 1.f);
  // -0.3 in [0.25, 0.5): spacing 1/32 -> -0.3125 (9.6/32 rounds to 10/32).
  EXPECT_EQ(x[3], -0.3125f);
}

TEST(ActQuantFp8, ScaleFollowsBlockAmax) {
  // amax 900 -> 900/448 = 2.0089 -> scale 4. 900/4 = 225 -> e4m3 224 (spacing 16 in [128,256))
  // -> 896. 10/4 = 2.5 -> exact. Second block (amax 1): scale 2^ceil(log2(1/448)) = 2^-8.
  std::vector<float> x = {900.f, 10.f, 1.f, 0.1f};
  act_quant_fp8(x, 2);
  EXPECT_EQ(x[0], 896.f);
  EXPECT_EQ(x[1], 10.f);
  EXPECT_EQ(x[2], 1.f);
  // 0.1 * 256 = 25.6 -> e4m3 spacing 2 in [16, 32): 26 -> 26/256.
  EXPECT_EQ(x[3], 26.f / 256.f);
}

TEST(ActQuantFp8, ZeroBlockUsesTheFloor) {
  std::vector<float> x = {0.f, 0.f};
  act_quant_fp8(x, 2);
  EXPECT_EQ(x[0], 0.f);
  EXPECT_EQ(x[1], 0.f);
}

TEST(Fp4Roundtrip, E2m1GridTimesPowerOfTwo) {
  // amax 6 -> scale 1: {6, 2.4 -> 2, 0.75 -> tie between 0.5 and 1 -> even code (1.0), -5 -> tie
  // between 4 and 6 -> even code 4}.
  std::vector<float> x(32, 0.f);
  x[0] = 6.f, x[1] = 2.4f, x[2] = 0.75f, x[3] = -5.f;
  fp4_roundtrip(x, 32);
  EXPECT_EQ(x[0], 6.f);
  EXPECT_EQ(x[1], 2.f);
  EXPECT_EQ(x[2], 1.f);
  EXPECT_EQ(x[3], -4.f);
}

TEST(Fp4Roundtrip, BlocksHaveTheirOwnScale) {
  // Block 0 amax 12 -> scale 2 (12/6 = 2); block 1 amax 0.75 -> 0.125 -> scale 2^-3.
  std::vector<float> x(64, 0.f);
  x[0] = 12.f, x[1] = 5.f;   // 5/2 = 2.5 -> tie 2 / 3 -> even code (2) -> 4
  x[32] = 0.75f, x[33] = 0.3f;  // 0.3*8 = 2.4 -> 2 -> 0.25
  fp4_roundtrip(x, 32);
  EXPECT_EQ(x[0], 12.f);
  EXPECT_EQ(x[1], 4.f);
  EXPECT_EQ(x[32], 0.75f);
  EXPECT_EQ(x[33], 0.25f);
}

TEST(Fp8Roundtrip, ResultIsBf16OnTheE4m3Grid) {
  std::vector<float> x(64, 0.f);
  x[0] = 3.3f;  // amax 3.3 -> scale 2^-7; 3.3*128 = 422.4 -> e4m3 416 -> 3.25
  fp8_roundtrip(x, 64);
  EXPECT_EQ(x[0], 3.25f);
}

TEST(Hadamard, SylvesterOrderScaledByInverseSqrt) {
  // H4 = [[1,1,1,1],[1,-1,1,-1],[1,1,-1,-1],[1,-1,-1,1]] / 2.
  std::vector<float> x = {1.f, 2.f, 3.f, 4.f};
  hadamard_rotate(x);
  EXPECT_EQ(x[0], 5.f);
  EXPECT_EQ(x[1], -1.f);
  EXPECT_EQ(x[2], -2.f);
  EXPECT_EQ(x[3], 0.f);
}

TEST(Hadamard, IsItsOwnInverseUpToRounding) {
  std::vector<float> x(128);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3) * 0.25f;
  std::vector<float> y = x;
  hadamard_rotate(y);
  hadamard_rotate(y);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 0.02f);
}

TEST(Hadamard, RejectsNonPowerOfTwo) {
  std::vector<float> x(6, 1.f);
  EXPECT_THROW(hadamard_rotate(x), std::invalid_argument);
}

}  // namespace
}  // namespace dsv4::graph
