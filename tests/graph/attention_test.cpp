// Sparse attention with sink (model-spec §3.5.8) and the visibility rules (§3.5.3, §3.5.6, §9.4-5).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/attention.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

using formats::round_bf16;

TEST(Visibility, WindowIsTheLastWPositionsIncludingT) {
  EXPECT_EQ(window_start(0, 128), 0);
  EXPECT_EQ(window_start(127, 128), 0);
  EXPECT_EQ(window_start(128, 128), 1);
  EXPECT_EQ(window_start(300, 128), 173);  // 173 ... 300 = 128 positions
  EXPECT_EQ(window_start(10, 8), 3);
}

TEST(Visibility, CompressedEntryVisibleOnceItsWindowClosed) {
  // c < (t+1) // r: entry 0 of ratio 4 (positions 0..3) is visible from t = 3 on.
  EXPECT_EQ(visible_compressed(2, 4), 0);
  EXPECT_EQ(visible_compressed(3, 4), 1);
  EXPECT_EQ(visible_compressed(6, 4), 1);
  EXPECT_EQ(visible_compressed(7, 4), 2);
  EXPECT_EQ(visible_compressed(126, 128), 0);
  EXPECT_EQ(visible_compressed(127, 128), 1);
  EXPECT_EQ(visible_compressed(15, 16), 1);
  EXPECT_EQ(visible_compressed(5, 0), 0);
}

TEST(SparseAttention, SinkOnlyInTheDenominator) {
  // One key k = v = [1, 0], q = [2, 0], scale 1: s = 2 = m; p = e^0 = 1;
  // o = v * 1 / (1 + e^(sink - 2)).
  const std::vector<float> q = {2.f, 0.f}, k = {1.f, 0.f};
  std::vector<float> out(2);
  sparse_attention_head(q, {k.data()}, 1.f, 2.f + std::log(3.f), out);  // e^(sink-m) = 3
  EXPECT_EQ(out[0], round_bf16(1.f / 4.f));
  EXPECT_EQ(out[1], 0.f);
}

TEST(SparseAttention, ScaledScoresSoftmaxOverKeysWithBf16Probabilities) {
  // Keys [1,0] and [0,1] (also the values); q = [ln 3, 0], scale 1: s = {ln 3, 0}, m = ln 3;
  // e = {1, 1/3}: p = {1, bf16(1/3)}; denominator 1 + 1/3 + e^(sink - ln 3) with sink = -inf.
  const std::vector<float> q = {std::log(3.f), 0.f}, k0 = {1.f, 0.f}, k1 = {0.f, 1.f};
  std::vector<float> out(2);
  sparse_attention_head(q, {k0.data(), k1.data()}, 1.f, -INFINITY, out);
  const float e1 = std::exp(0.f - std::log(3.f));
  const float denom = 1.f + e1;
  EXPECT_EQ(out[0], round_bf16(1.f / denom));
  EXPECT_EQ(out[1], round_bf16(round_bf16(e1) / denom));
}

TEST(SparseAttention, SoftmaxScaleMultipliesTheDotProduct) {
  // q.k = 4, scale 0.5 -> s = 2; with a second key of s = 0 the weights are e^0 : e^-2.
  const std::vector<float> q = {4.f, 0.f}, k0 = {1.f, 0.f}, k1 = {0.f, 1.f};
  std::vector<float> out(2);
  sparse_attention_head(q, {k0.data(), k1.data()}, 0.5f, -INFINITY, out);
  const float e1 = std::exp(-2.f);
  EXPECT_EQ(out[0], round_bf16(1.f / (1.f + e1)));
  EXPECT_EQ(out[1], round_bf16(round_bf16(e1) / (1.f + e1)));
}

}  // namespace
}  // namespace dsv4::graph
