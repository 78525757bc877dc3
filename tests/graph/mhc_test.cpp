// mHC (model-spec §3.3): Sinkhorn is doubly stochastic, comb is oriented row = input stream,
// column = output stream; pre/post/comb come from (fn . x) * rsqrt(mean x^2 + eps), scales, bases.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/mhc.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

float sigmoid(float v) { return 1.f / (1.f + std::exp(-v)); }

TEST(Sinkhorn, IsDoublyStochastic) {
  std::vector<float> c = {3.f, -1.f, 0.5f, 2.f, 0.f, 0.f, 1.f, -2.f, 4.f, 1.f, 1.f, 0.f, -3.f, 2.f, 0.f, 1.f};
  sinkhorn(c, 4, 20, 1e-6f);
  for (int i = 0; i < 4; ++i) {
    float row = 0, col = 0;
    for (int k = 0; k < 4; ++k) row += c[size_t(i * 4 + k)], col += c[size_t(k * 4 + i)];
    EXPECT_NEAR(row, 1.f, 1e-3f);
    EXPECT_NEAR(col, 1.f, 1e-5f);  // the last step normalises columns
  }
}

TEST(Sinkhorn, OneIterationIsRowSoftmaxPlusEpsThenColumnNormalisation) {
  // 2x2 by hand: logits [[0, ln 3], [0, 0]] -> row softmax [[.25, .75], [.5, .5]] (+eps),
  // column sums .75 and 1.25 -> [[1/3, .6], [2/3, .4]].
  std::vector<float> c = {0.f, std::log(3.f), 0.f, 0.f};
  sinkhorn(c, 2, 1, 0.f);
  EXPECT_NEAR(c[0], 1.f / 3, 1e-6f);
  EXPECT_NEAR(c[1], 0.6f, 1e-6f);
  EXPECT_NEAR(c[2], 2.f / 3, 1e-6f);
  EXPECT_NEAR(c[3], 0.4f, 1e-6f);
}

TEST(HcPost, CombRowIsInputStreamColumnIsOutputStream) {
  // n = 2, D = 1: X = [10, 100], f = 1, post = [0, 0]; comb = [[a, b], [c, d]] gives
  // X'_0 = a X_0 + c X_1 and X'_1 = b X_0 + d X_1.
  HcMix mix{{1.f, 1.f}, {0.f, 0.f}, {0.25f, 0.75f, 0.5f, 0.5f}};
  std::vector<float> streams = {10.f, 100.f};
  const std::vector<float> f = {1.f};
  hc_post(f, mix, 2, streams);
  EXPECT_EQ(streams[0], 0.25f * 10 + 0.5f * 100);
  EXPECT_EQ(streams[1], 0.75f * 10 + 0.5f * 100);
}

TEST(HcPost, AddsPostTimesOutputAndRoundsToBf16) {
  HcMix mix{{1.f, 1.f}, {2.f, 0.5f}, {1.f, 0.f, 0.f, 1.f}};
  std::vector<float> streams = {1.f, 3.f};
  const std::vector<float> f = {0.001f};
  hc_post(f, mix, 2, streams);
  EXPECT_EQ(streams[0], formats::round_bf16(1.f + 2.f * 0.001f));
  EXPECT_EQ(streams[1], formats::round_bf16(3.f + 0.5f * 0.001f));
}

TEST(HcPre, SplitsMixesIntoPrePostCombAndCollapses) {
  // n = 2, D = 2: mix width (2+2)*2 = 8. fn picks x0 for every output; x = [[2, 0], [0, 0]]
  // flattened: mean(x^2) = 1 -> rsqrt ~ 1, so m_i = 2 for all i.
  const int64_t n = 2;
  std::vector<float> fn(8 * 4, 0.f);
  for (int o = 0; o < 8; ++o) fn[size_t(o * 4)] = 1.f;
  const std::vector<float> base = {0.f, 1.f, -1.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  const std::vector<float> scale = {0.5f, 1.f, 0.f};
  const std::vector<float> streams = {2.f, 0.f, 0.f, 0.f};
  std::vector<float> y(2);
  const HcMix mix = hc_pre(streams, {fn, base, scale}, n, 20, 1e-6f, 1e-6f, y);
  const float m = 2.f / std::sqrt(1.f + 1e-6f);
  EXPECT_NEAR(mix.pre[0], sigmoid(m * 0.5f + 0.f) + 1e-6f, 1e-6f);
  EXPECT_NEAR(mix.pre[1], sigmoid(m * 0.5f + 1.f) + 1e-6f, 1e-6f);
  EXPECT_NEAR(mix.post[0], 2 * sigmoid(m - 1.f), 1e-6f);
  EXPECT_NEAR(mix.post[1], 2 * sigmoid(m), 1e-6f);
  for (float v : mix.comb) EXPECT_NEAR(v, 0.5f, 1e-5f);  // scale[2] = 0, equal logits
  EXPECT_EQ(y[0], formats::round_bf16(mix.pre[0] * 2.f));
  EXPECT_EQ(y[1], 0.f);
}

TEST(HcHead, SigmoidPlusEpsWeightsTheStreams) {
  const std::vector<float> fn = {0.f, 0.f, 0.f, 0.f};  // n = 2, D = 1: m = 0
  const std::vector<float> base = {0.f, 100.f};
  const std::vector<float> scale = {1.f};
  const std::vector<float> streams = {4.f, 8.f};
  std::vector<float> y(1);
  hc_head(streams, {fn, base, scale}, 2, 1e-6f, 1e-6f, y);
  EXPECT_EQ(y[0], formats::round_bf16((0.5f + 1e-6f) * 4.f + (1.f + 1e-6f) * 8.f));
}

// pre_i = sigmoid(z_i) + eps must carry the correctly rounded sigmoid (the reference's accuracy):
// 1/(1+expf(-z)) in fp32 is one ulp off for many z (e.g. z = -7.99959373), and pre/post feed the
// bf16 roundings of every block. With fn = 0 the mixes are 0, so z_i = base_i exactly.
TEST(HcPre, SigmoidIsCorrectlyRounded) {
  const int64_t n = 2;
  const std::vector<float> fn(8 * 2, 0.f), scale = {1.f, 1.f, 1.f}, streams = {1.f, 1.f};
  std::vector<float> y(1);
  int checked = 0;
  for (int i = 0; i < 400; ++i) {
    const float z0 = -8.f + float(i) * 0.04f, z1 = -7.99959373f + float(i) * 0.0003f;
    const std::vector<float> base = {z0, z1, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    const HcMix mix = hc_pre(streams, {fn, base, scale}, n, 1, 1e-6f, 1e-6f, y);
    for (int k = 0; k < 2; ++k) {
      const long double z = k ? z1 : z0;
      const float exact = float(1.0L / (1.0L + std::exp(-z)));
      EXPECT_EQ(mix.pre[size_t(k)], exact + 1e-6f) << "z = " << double(z);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 800);
}

// The mixes GEMM sums K in blocks of 512 (in order inside a block, then block by block), the
// order that reproduces the tiny-a fixture. fn row = [2^24, 1 x 1023], x = 1: inside block 0 every
// +1 rounds back to 2^24, block 1 gives 512, so the dot is 2^24 + 512 (left to right: 2^24).
TEST(HcMixes, SumsKInBlocksOf512) {
  std::vector<float> fn(1024, 1.f), streams(1024, 1.f);
  fn[0] = 16777216.f;
  const std::vector<float> m = hc_mixes(streams, fn, 1, 1e-6f);
  const float r = 1.f / std::sqrt(1.f + 1e-6f);  // mean(x^2) = 1
  EXPECT_EQ(m[0], 16777728.f * r);
}

}  // namespace
}  // namespace dsv4::graph
