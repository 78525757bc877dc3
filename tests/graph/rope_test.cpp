// RoPE / YaRN (model-spec §3.4): interleaved pairs on the LAST rope dims, YaRN ramp constants.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/rope.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

TEST(Yarn, ReleaseConstantsGiveLow15High25) {
  int64_t low = 0, high = 0;
  yarn_correction_range(64, 160000.0, 65536, 32.0, 1.0, &low, &high);
  EXPECT_EQ(low, 15);
  EXPECT_EQ(high, 25);
}

TEST(Yarn, FrequenciesKeepLowIndicesAndDivideHighOnes) {
  const RopeTable plain = make_rope_table(64, 160000.0, 0, 16.0, 32.0, 1.0);
  const RopeTable yarn = make_rope_table(64, 160000.0, 65536, 16.0, 32.0, 1.0);
  ASSERT_EQ(yarn.freqs.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_NEAR(plain.freqs[size_t(i)], std::pow(160000.0, -2.0 * i / 64), 1e-6 * plain.freqs[size_t(i)]);
    if (i <= 15) {
      EXPECT_EQ(yarn.freqs[size_t(i)], plain.freqs[size_t(i)]) << i;
    }
    if (i >= 25) {
      EXPECT_NEAR(yarn.freqs[size_t(i)], plain.freqs[size_t(i)] / 16, 1e-6 * plain.freqs[size_t(i)]) << i;
    }
  }
  // Linear blend in between: i = 20 is half way (ramp 0.5).
  EXPECT_NEAR(yarn.freqs[20], plain.freqs[20] * (0.5 / 16 + 0.5), 1e-6 * plain.freqs[20]);
}

TEST(Yarn, Ratio0LayersUsePlainRopeTheta) {
  ModelConfig c;
  c.rope_head_dim = 4;
  c.rope_theta = 10000.0;
  c.compress_rope_theta = 160000.0;
  c.original_seq_len = 65536;
  c.rope_factor = 16;
  c.compress_ratios = {0, 4};
  const RopeTable t0 = rope_table_for_layer(c, 0), t1 = rope_table_for_layer(c, 1);
  EXPECT_FLOAT_EQ(t0.freqs[1], 1.0f / 100.0f);  // 10000^(-2/4)
  EXPECT_FLOAT_EQ(t1.freqs[0], 1.0f);
  EXPECT_LT(t1.freqs[1], 1.0f / 400.0f + 1e-6f);  // 160000^(-1/2) = 1/400, then YaRN (<= it)
}

TEST(Rope, RotatesInterleavedPairsOfTheLastDims) {
  // Head of 6 with rope_dim 4: dims 0,1 untouched; pairs (2,3) and (4,5) rotate by t*f_i.
  const RopeTable t = make_rope_table(4, 10000.0, 0, 1.0, 32.0, 1.0);  // f = {1, 0.01}
  std::vector<float> head = {7.f, 9.f, 1.f, 0.f, 0.f, 1.f};
  apply_rope(t, head, 2);
  EXPECT_EQ(head[0], 7.f);
  EXPECT_EQ(head[1], 9.f);
  EXPECT_EQ(head[2], formats::round_bf16(std::cos(2.f)));   // (1 + 0i) * e^{2i}
  EXPECT_EQ(head[3], formats::round_bf16(std::sin(2.f)));
  EXPECT_EQ(head[4], formats::round_bf16(-std::sin(0.02f)));  // (0 + 1i) * e^{0.02i}
  EXPECT_EQ(head[5], formats::round_bf16(std::cos(0.02f)));
}

TEST(Rope, InverseIsTheConjugateRotation) {
  const RopeTable t = make_rope_table(2, 10000.0, 0, 1.0, 32.0, 1.0);  // f = {1}
  std::vector<float> head = {1.f, 0.f};
  apply_rope(t, head, 3, /*inverse=*/true);
  EXPECT_EQ(head[0], formats::round_bf16(std::cos(3.f)));
  EXPECT_EQ(head[1], formats::round_bf16(-std::sin(3.f)));
}

TEST(Rope, PositionZeroIsIdentity) {
  const RopeTable t = make_rope_table(4, 160000.0, 65536, 16.0, 32.0, 1.0);
  std::vector<float> head = {0.5f, -1.25f, 3.f, 0.125f};
  const std::vector<float> before = head;
  apply_rope(t, head, 0);
  EXPECT_EQ(head, before);
}

}  // namespace
}  // namespace dsv4::graph
