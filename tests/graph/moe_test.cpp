// MoE (model-spec §3.6): sqrt(softplus) scores, bias for selection only, hash routing, normalised
// weights x route_scale, the SwiGLU clamps, routing weight before w2, fp32 combine.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/moe.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

using formats::round_bf16;

Weight bf16_weight(int64_t rows, int64_t cols, std::vector<float> v) {
  Weight w;
  w.name = "test";
  w.format = WeightFormat::BF16;
  w.rows = rows, w.cols = cols, w.values = std::move(v);
  return w;
}

float score(float logit) { return std::sqrt(std::log1p(std::exp(logit))); }

ModelConfig config() {
  ModelConfig c;
  c.n_routed_experts = 3, c.n_activated_experts = 2, c.route_scale = 1.5f, c.swiglu_limit = 10.f;
  c.vocab_size = 4, c.dim = 1;
  return c;
}

TEST(Gate, BiasChoosesButDoesNotWeigh) {
  // D = 1, x = 1: logits = gate weights {2, 1, 0}. Bias {0, 0, 5} makes expert 2 win selection;
  // weights use the unbiased scores of {2, 0}, normalised, times route_scale.
  ModelConfig c = config();
  MoeWeights w;
  w.gate = bf16_weight(3, 1, {2.f, 1.f, 0.f});
  w.bias = {0.f, 0.f, 5.f};
  const std::vector<float> x = {1.f};
  const Routing r = route(w, c, false, x, 0);
  ASSERT_EQ(r.experts, (std::vector<int64_t>{2, 0}));
  const float s2 = score(0.f), s0 = score(2.f);
  EXPECT_NEAR(r.weights[0], s2 / (s2 + s0) * 1.5f, 1e-6f);
  EXPECT_NEAR(r.weights[1], s0 / (s2 + s0) * 1.5f, 1e-6f);
}

TEST(Gate, HashLayersRouteByTid2eid) {
  ModelConfig c = config();
  MoeWeights w;
  w.gate = bf16_weight(3, 1, {2.f, 1.f, 0.f});
  w.tid2eid = {0, 1, 1, 2, 2, 0, 0, 2};  // token 2 -> experts {2, 0}
  const std::vector<float> x = {1.f};
  const Routing r = route(w, c, true, x, 2);
  ASSERT_EQ(r.experts, (std::vector<int64_t>{2, 0}));
  const float s2 = score(0.f), s0 = score(2.f);
  EXPECT_NEAR(r.weights[0], s2 / (s2 + s0) * 1.5f, 1e-6f);
}

TEST(Gate, SoftplusIsLinearAboveTwenty) {
  ModelConfig c = config();
  MoeWeights w;
  w.gate = bf16_weight(3, 1, {30.f, 0.f, 0.f});
  w.bias = {0.f, 0.f, 0.f};
  const std::vector<float> x = {1.f};
  const Routing r = route(w, c, false, x, 0);
  const float s0 = std::sqrt(30.f), s1 = score(0.f);
  EXPECT_NEAR(r.weights[0], s0 / (s0 + s1) * 1.5f, 1e-6f);
}

TEST(Gate, SqrtSoftplusIsCorrectlyRounded) {
  EXPECT_EQ(sqrt_softplus(30.f), std::sqrt(30.f));  // linear above the threshold 20
  EXPECT_EQ(sqrt_softplus(0.f), float(std::sqrt(std::log(2.0))));
  EXPECT_EQ(sqrt_softplus(2.f), float(std::sqrt(std::log1p(std::exp(2.0)))));
  EXPECT_EQ(sqrt_softplus(-50.f), float(std::exp(-25.0)));  // sqrt(e^v) far below 0
  EXPECT_EQ(sqrt_softplus(-200.f), 0.f);
}

// The router's logits are sequential fp32 dots (graph::linear_fp32: the order that reproduces the
// reference on tiny-a, and the GPU gate's). Expert 0: products 2^25 (element 0), 1 (element 8)
// and 1 x 5 (elements 136-140): in element order each + 1 rounds away (ulp 4), so its logit is
// 2^25; a 32-lane split with a pairwise tree would give 2^25 + 8, lane sums left to right
// 2^25 + 4. Expert 1 holds a single product 2^25 + 4 and so wins the one slot.
TEST(Gate, LogitsAreSequentialDots) {
  std::vector<float> x(256, 0.f), rows(512, 0.f);
  x[0] = 1.f, rows[0] = 0x1p25f;
  x[8] = rows[8] = 1.f;
  for (size_t i = 136; i < 141; ++i) x[i] = rows[i] = 1.f;
  x[200] = 0x1p25f + 4.f, rows[256 + 200] = 1.f;
  ModelConfig cfg = config();
  cfg.n_routed_experts = 2, cfg.n_activated_experts = 1;
  MoeWeights w;
  w.gate = bf16_weight(2, 256, rows);
  w.bias = {0.f, 0.f};
  const std::vector<float> scores = router_scores(w, x);
  EXPECT_EQ(scores[0], float(std::sqrt(double(0x1p25f))));
  EXPECT_EQ(scores[1], float(std::sqrt(double(0x1p25f + 4.f))));
  EXPECT_EQ(route(w, cfg, false, x, 0).experts, (std::vector<int64_t>{1}));
}

TEST(Expert, ClampsGateAboveAndUpBothSidesThenWeighsBeforeW2) {
  // D = 1, F = 2 with identity-like BF16 weights: g = {20, -3}, u = {-15, 4} for x = 1.
  ExpertWeights e{bf16_weight(2, 1, {20.f, -3.f}), bf16_weight(1, 2, {1.f, 1.f}), bf16_weight(2, 1, {-15.f, 4.f})};
  const std::vector<float> x = {1.f};
  std::vector<float> out(1);
  expert_forward(e, x, 0.5f, 10.f, true, out);
  auto silu = [](float v) { return v / (1.f + std::exp(-v)); };
  const float h0 = round_bf16(0.5f * (silu(10.f) * -10.f));  // min(20, 10), clamp(-15) = -10
  const float h1 = round_bf16(0.5f * (silu(-3.f) * 4.f));    // no lower clamp on the gate
  EXPECT_EQ(out[0], round_bf16(h0 + h1));
}

TEST(Moe, CombinesRoutedByExpertIdThenSharedInFp32) {
  ModelConfig c = config();
  MoeWeights w;
  auto expert = [&](float a) {  // out = bf16(weight * silu(a) * 1)
    return ExpertWeights{bf16_weight(1, 1, {a}), bf16_weight(1, 1, {1.f}), bf16_weight(1, 1, {1.f})};
  };
  c.moe_inter_dim = 1;
  w.experts = {expert(1.f), expert(2.f), expert(3.f)};
  w.shared = expert(0.5f);
  Routing r{{2, 0}, {0.25f, 2.f}};
  const std::vector<float> x = {1.f};
  std::vector<float> out(1);
  moe_forward(w, c, r, x, out);
  auto silu = [](float v) { return v / (1.f + std::exp(-v)); };
  const float e0 = round_bf16(round_bf16(2.f * silu(1.f)));
  const float e2 = round_bf16(round_bf16(0.25f * silu(3.f)));
  const float sh = round_bf16(round_bf16(silu(0.5f)));
  EXPECT_EQ(out[0], round_bf16((0.f + e0 + e2) + sh));
}

}  // namespace
}  // namespace dsv4::graph
