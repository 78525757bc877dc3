// graph::sample_token's semantics (graph/sampling.h) on small distributions whose answers are
// known, and its exp / uniform building blocks against the standard library and basic statistics.
#include "graph/sampling.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

namespace dsv4::graph {
namespace {

// Correctly rounded: equal to float(exp(double(x))) (itself correctly rounded but for inputs
// within 2^-29 of a halfway point, which 200k random inputs do not hit). glibc's expf is not
// (it misrounds ~0.06% of these inputs by 1 ulp), so the reference's Sinkhorn may differ by an ulp.
TEST(SamplingExpTest, IsCorrectlyRounded) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-87.f, 88.f);
  int wrong = 0, far_from_expf = 0;
  for (int i = 0; i < 200000; ++i) {
    const float x = d(rng);
    const float a = sampling_exp(x);
    wrong += a != float(std::exp(double(x)));
    far_from_expf += std::abs(int64_t(std::bit_cast<uint32_t>(a)) - int64_t(std::bit_cast<uint32_t>(std::exp(x)))) > 1;
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(far_from_expf, 0);
  EXPECT_EQ(sampling_exp(0.f), 1.f);
  EXPECT_EQ(sampling_exp(-100.f), 0.f);
  EXPECT_TRUE(std::isinf(sampling_exp(100.f)));
}

TEST(SamplingUniformTest, IsDeterministicUniformAndKeyed) {
  EXPECT_EQ(sampling_uniform(42, 1, 7), sampling_uniform(42, 1, 7));
  EXPECT_NE(sampling_uniform(42, 1, 7), sampling_uniform(43, 1, 7));
  EXPECT_EQ(sampling_uniform(42, 1, 7), sampling_uniform(42, 2, 7));  // slot-independent (batch determinism)
  EXPECT_NE(sampling_uniform(42, 1, 7), sampling_uniform(42, 1, 8));
  EXPECT_NE(sampling_uniform(1ull << 40, 1, 7), sampling_uniform(2ull << 40, 1, 7));  // the high seed bits count
  double sum = 0;
  int below_tenth = 0;
  for (uint32_t pos = 0; pos < 100000; ++pos) {
    const float u = sampling_uniform(5, 0, pos);
    ASSERT_GE(u, 0.f);
    ASSERT_LT(u, 1.f);
    sum += u;
    below_tenth += u < 0.1f;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
  EXPECT_NEAR(below_tenth / 100000.0, 0.1, 0.005);
}

std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(float(std::log(p)));
  return l;
}

// Frequencies of the picks over `n` positions.
std::vector<double> frequencies(const std::vector<float>& logits, const SamplingParams& p, int n) {
  std::vector<double> f(logits.size(), 0.0);
  for (int pos = 0; pos < n; ++pos) f[size_t(sample_token(logits, p, {}, 0, uint32_t(pos)))] += 1.0 / n;
  return f;
}

TEST(SampleTokenTest, GreedyTakesTheLowestIndexOfTheMaximum) {
  const std::vector<float> l = {1.f, 3.f, 2.f, 3.f, -1.f};
  EXPECT_EQ(sample_token(l, {}, {}, 0, 0), 1);
  SamplingParams k1;
  k1.temperature = 2.f;
  k1.top_k = 1;
  EXPECT_EQ(sample_token(l, k1, {}, 0, 0), 1);
}

TEST(SampleTokenTest, TemperatureOneFollowsTheDistribution) {
  SamplingParams p;
  p.temperature = 1.f;
  p.seed = 9;
  const std::vector<double> want = {0.1, 0.2, 0.3, 0.4};
  const auto f = frequencies(logits_of(want), p, 20000);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(f[i], want[i], 0.015) << i;
  p.temperature = 0.5f;  // squares the odds: 1 : 4 : 9 : 16
  const auto g = frequencies(logits_of(want), p, 20000);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(g[i], double((i + 1) * (i + 1)) / 30.0, 0.015) << i;
}

TEST(SampleTokenTest, FiltersKeepTheDocumentedSets) {
  const std::vector<double> probs = {0.2, 0.5, 0.05, 0.25};
  SamplingParams p;
  p.temperature = 1.f;
  p.top_k = 2;  // {1, 3} renormalised: 2/3, 1/3
  auto f = frequencies(logits_of(probs), p, 20000);
  EXPECT_EQ(f[0] + f[2], 0.0);
  EXPECT_NEAR(f[1], 2.0 / 3.0, 0.015);
  p.top_k = 0;
  p.top_p = 0.7f;  // 0.5 alone < 0.7; 0.5 + 0.25 >= 0.7: {1, 3}
  f = frequencies(logits_of(probs), p, 20000);
  EXPECT_EQ(f[0] + f[2], 0.0);
  EXPECT_NEAR(f[3], 1.0 / 3.0, 0.015);
  p.top_p = 1.f;
  p.min_p = 0.3f;  // relative to 0.5: keeps >= 0.15: {0, 1, 3}
  f = frequencies(logits_of(probs), p, 20000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[0], 0.2 / 0.95, 0.015);
}

TEST(SampleTokenTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  std::vector<uint32_t> presence(presence_words(70), 0);
  mark_token(presence, 65);
  mark_token(presence, 2);
  EXPECT_TRUE(has_token(presence, 65));
  EXPECT_FALSE(has_token(presence, 64));
  std::vector<float> l(70, -5.f);
  l[65] = 4.f;   // penalised: 2 < 3
  l[10] = 3.f;
  SamplingParams p;
  p.repetition_penalty = 2.f;
  EXPECT_EQ(sample_token(l, p, presence, 0, 0), 10);
  EXPECT_EQ(sample_token(l, {}, presence, 0, 0), 65);
  std::fill(l.begin(), l.end(), -5.f);
  l[2] = -1.f;  // penalised: -2 < -1.5
  l[3] = -1.5f;
  EXPECT_EQ(sample_token(l, p, presence, 0, 0), 3);
}

TEST(SampleTokenTest, SameSeedSameTokens) {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.f, 2.f);
  std::vector<float> l(3000);
  for (float& v : l) v = n(rng);
  SamplingParams p;
  p.temperature = 1.f;
  p.top_p = 0.95f;
  p.seed = 77;
  int differs = 0;
  for (uint32_t pos = 0; pos < 50; ++pos) {
    EXPECT_EQ(sample_token(l, p, {}, 1, pos), sample_token(l, p, {}, 1, pos));
    SamplingParams q = p;
    q.seed = 78;
    differs += sample_token(l, p, {}, 1, pos) != sample_token(l, q, {}, 1, pos);
  }
  EXPECT_GT(differs, 25);  // another seed gives other tokens
}

}  // namespace
}  // namespace dsv4::graph
