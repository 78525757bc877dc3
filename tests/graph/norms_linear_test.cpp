// RMSNorm (weight before the bf16 cast), the bf16-arithmetic per-head q norm, and the linear
// dispatch: FP8/FP4 weights quantise the activation (1x128 e4m3 blocks), BF16 weights do not.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/linear.h"
#include "graph/norms.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

using formats::round_bf16;

TEST(RmsNorm, WeightMultipliesBeforeTheCast) {
  // x = [3, 4]: mean(x^2) = 12.5, r = 1/sqrt(12.5 + eps); w = [1.01, 1].
  const std::vector<float> x = {3.f, 4.f}, w = {1.01f, 1.f};
  std::vector<float> out(2);
  rms_norm(x, w, 1e-6f, out);
  const float r = 1.f / std::sqrt(12.5f + 1e-6f);
  EXPECT_EQ(out[0], round_bf16(1.01f * (3.f * r)));
  EXPECT_EQ(out[1], round_bf16(4.f * r));
}

TEST(HeadRmsNorm, EveryStepRoundedToBf16) {
  std::vector<float> q = {1.5f, -2.25f, 0.75f, 3.f};
  const std::vector<float> in = q;
  head_rms_norm_bf16(q, 1e-6f);
  float sum = 0.f;
  for (float v : in) sum += round_bf16(v * v);
  const float mean = round_bf16(sum * 0.25f);
  const float r = round_bf16(1.f / std::sqrt(round_bf16(mean + 1e-6f)));
  for (size_t i = 0; i < q.size(); ++i) EXPECT_EQ(q[i], round_bf16(in[i] * r));
}

TEST(Linear, Fp8WeightQuantisesTheActivation) {
  // x = [300, 2, 0...] (128 wide): amax 300 -> scale 2^ceil(log2(300/448)) = 1; 300 -> e4m3 288.
  Weight w;
  w.name = "w";
  w.format = WeightFormat::FP8;
  w.rows = 1, w.cols = 128;
  w.values.assign(128, 0.f);
  w.values[0] = 1.f;
  w.values[1] = 1.f;
  std::vector<float> x(128, 0.f);
  x[0] = 300.f;
  x[1] = 2.f;
  std::vector<float> out(1);
  linear(w, x, out);
  EXPECT_EQ(out[0], 290.f);
  w.format = WeightFormat::BF16;  // same values, no activation quantisation
  linear(w, x, out);
  EXPECT_EQ(out[0], 302.f);
}

TEST(Linear, OutputIsBf16AndFp32VariantIsNot) {
  Weight w;
  w.name = "w";
  w.format = WeightFormat::BF16;
  w.rows = 1, w.cols = 2;
  w.values = {1.f, 1.f};
  const std::vector<float> x = {1.f, 0.001f};
  std::vector<float> out(1);
  linear(w, x, out);
  EXPECT_EQ(out[0], round_bf16(1.001f));
  linear_fp32(w, x, out);
  EXPECT_EQ(out[0], 1.f + 0.001f);
}

TEST(Linear, ShapeMismatchThrows) {
  Weight w;
  w.name = "w";
  w.rows = 2, w.cols = 2;
  w.values.assign(4, 0.f);
  std::vector<float> x(3), out(2);
  EXPECT_THROW(linear(w, x, out), std::invalid_argument);
}

}  // namespace
}  // namespace dsv4::graph
