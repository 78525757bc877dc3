// Compressor (model-spec §3.5.4): emission positions, the ratio-4 overlap, per-channel softmax with
// ape added to the gates, and the entry post-processing order.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/compressor.h"
#include "graph/quant.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

// Pushes positions [from, to) with values c = value(pos), zero gates; returns emitting positions.
std::vector<int64_t> push_range(CompressorState& s, int64_t from, int64_t to, const std::vector<float>& ape,
                                std::vector<std::vector<float>>* entries = nullptr) {
  std::vector<int64_t> emitted;
  const int64_t width = s.coff * s.d;
  for (int64_t p = from; p < to; ++p) {
    std::vector<float> c(static_cast<size_t>(width)), g(static_cast<size_t>(width), 0.f), out(static_cast<size_t>(s.d));
    for (int64_t i = 0; i < width; ++i) c[size_t(i)] = float(p) + (i < s.d ? 0.f : 1000.f);  // 2nd half +1000
    if (compressor_push(s, p, c, g, ape, out)) {
      emitted.push_back(p);
      if (entries) entries->push_back(out);
    }
  }
  return emitted;
}

TEST(Compressor, EmitsWhenPositionClosesAWindow) {
  CompressorState r4(4, 2), r16(16, 2);
  const std::vector<float> ape4(4 * 4, 0.f), ape16(16 * 2, 0.f);
  EXPECT_EQ(push_range(r4, 0, 13, ape4), (std::vector<int64_t>{3, 7, 11}));
  EXPECT_EQ(push_range(r16, 0, 40, ape16), (std::vector<int64_t>{15, 31}));
}

TEST(Compressor, NonOverlappingEntryIsPerChannelSoftmaxPool) {
  // Ratio 16, equal gates: entry = mean of the 16 positions' values = 7.5 (positions 0..15).
  CompressorState s(16, 2);
  std::vector<std::vector<float>> e;
  push_range(s, 0, 16, std::vector<float>(16 * 2, 0.f), &e);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NEAR(e[0][0], 7.5f, 1e-5f);
}

TEST(Compressor, OverlapMixesPreviousWindowFirstHalfWithCurrentSecondHalf) {
  // Ratio 4, d = 1, equal gates. Entry 0: previous slots absent (-inf), current window uses the
  // second half (value p + 1000): mean(1000..1003) = 1001.5. Entry 1: 4 previous-window slots with
  // first-half values 0..3 and 4 current slots with 1004..1007: mean = (6 + 4022) / 8 = 503.5.
  CompressorState s(4, 1);
  std::vector<std::vector<float>> e;
  push_range(s, 0, 8, std::vector<float>(4 * 2, 0.f), &e);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_NEAR(e[0][0], 1001.5f, 1e-3f);
  EXPECT_NEAR(e[1][0], 503.5f, 1e-3f);
}

TEST(Compressor, ApeIsAddedToTheGateOfItsSlot) {
  // Ratio 16, a large ape on slot 5 only: the softmax picks position 16 + 5 in the second window.
  CompressorState s(16, 1);
  std::vector<float> ape(16, 0.f);
  ape[5] = 100.f;
  std::vector<std::vector<float>> e;
  push_range(s, 0, 32, ape, &e);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_NEAR(e[0][0], 5.f, 1e-3f);
  EXPECT_NEAR(e[1][0], 21.f, 1e-3f);
}

TEST(Compressor, ResetForgetsThePreviousWindow) {
  CompressorState s(4, 1);
  const std::vector<float> ape(8, 0.f);
  push_range(s, 0, 6, ape);
  s.reset();
  std::vector<std::vector<float>> e;
  push_range(s, 0, 4, ape, &e);
  EXPECT_NEAR(e.at(0)[0], 1001.5f, 1e-3f);
}

TEST(Compressor, KvEntryPostProcessingOrder) {
  // d = 128 with rope 64 at position 0 (identity): bf16 -> RMSNorm(w = 1) -> FP8 of dims [0, 64).
  std::vector<float> entry(128);
  for (int i = 0; i < 128; ++i) entry[size_t(i)] = 0.1f * float(i % 9) - 0.37f;
  std::vector<float> expect = entry;
  for (float& v : expect) v = formats::round_bf16(v);
  float ms = 0.f;
  for (float v : expect) ms += v * v;
  const float r = 1.f / std::sqrt(ms * (1.f / 128.f) + 1e-6f);
  for (float& v : expect) v = formats::round_bf16(v * r);
  fp8_roundtrip(std::span<float>(expect).first(64), 64);
  const std::vector<float> w(128, 1.f);
  const RopeTable rope = make_rope_table(64, 160000.0, 65536, 16.0, 32.0, 1.0);
  finish_kv_entry(entry, w, 1e-6f, rope, 0);
  EXPECT_EQ(entry, expect);
}

TEST(Compressor, IndexEntryIsHadamardThenFp4) {
  std::vector<float> entry(64);
  for (int i = 0; i < 64; ++i) entry[size_t(i)] = float(i % 5) - 2.f;
  std::vector<float> expect = entry;
  float ms = 0.f;
  for (float v : expect) ms += v * v;
  const float r = 1.f / std::sqrt(ms * (1.f / 64.f) + 1e-6f);
  for (float& v : expect) v = formats::round_bf16(v * r);
  hadamard_rotate(expect);
  fp4_roundtrip(expect, 32);
  const std::vector<float> w(64, 1.f);
  const RopeTable rope = make_rope_table(64, 160000.0, 65536, 16.0, 32.0, 1.0);
  finish_index_entry(entry, w, 1e-6f, rope, 0);
  EXPECT_EQ(entry, expect);
}

}  // namespace
}  // namespace dsv4::graph
