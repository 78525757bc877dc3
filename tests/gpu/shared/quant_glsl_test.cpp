// shaders/common/quant.glsl against weights/formats.h and graph/quant.cpp, bit for bit, on values
// that cover every e4m3/e2m1 rounding case: ties, subnormals, saturation, zeros of both signs.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "gpu/common/gpu_test_helpers.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

namespace fm = dsv4::formats;

std::vector<float> interesting_values() {
  std::vector<float> v = {0.f, -0.f, 448.f, -448.f, 460.f, 1e6f, -1e6f, 6.f, 7.f, -5.f, 0.25f, 0.75f, 1.25f,
                          1.75f, 2.5f, 3.5f, 5.f, 0x1p-9f, 0x1p-10f, 0x1.8p-10f, 0x1p-6f, 0x1.fp-7f, 1e-4f, 3e-5f};
  for (uint32_t c = 0; c < 256; ++c) {  // every e4m3 value and the midpoints around it
    if ((c & 0x7f) == 0x7f) continue;
    const float a = fm::e4m3_to_float(uint8_t(c));
    v.push_back(a);
    v.push_back(std::nextafter(a, 1e9f));
    v.push_back(std::nextafter(a, -1e9f));
    v.push_back(a * 1.0625f);  // halfway to the next code in the normal range
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.f, 3.f);
  for (int i = 0; i < 4000; ++i) v.push_back(n(rng) * std::ldexp(1.f, i % 40 - 20));
  return v;
}

int fp8_exponent(float amax) { return std::ilogb(fm::fp8_block_scale(amax)); }
int fp4_exponent(float amax) { return std::ilogb(fm::fp4_block_scale(amax)); }

using QuantGlslTest = GpuOpTest;

TEST_F(QuantGlslTest, MatchesTheCppEncodersBitForBit) {
  const std::vector<float> x = interesting_values();
  vk::Buffer in = upload(x, "values");
  vk::Buffer out = zeros(x.size() * 32);
  const vk::Kernel& k = ctx().kernels.get({"test/quant_glsl", 2, 4, {}, 0});
  run({{&k, {{in.range(), vk::Access::Read}, {out.range(), vk::Access::Write}}, {uint32_t(x.size())},
        {gpu::groups_for(x.size(), 64), 1, 1}, std::nullopt, "quant_glsl"}});
  const std::vector<uint32_t> o = download<uint32_t>(out, x.size() * 8);
  int bad = 0;
  for (size_t i = 0; i < x.size() && bad < 10; ++i) {
    const float v = x[i];
    const uint8_t c8 = fm::float_to_e4m3(v);
    const uint8_t c4 = fm::float_to_e2m1(v);
    const float s3 = fm::fp8_block_scale(std::fabs(v) * 3.f);
    const float rt = fm::round_bf16(fm::round_e4m3(v / s3) * s3);
    const bool ok = o[8 * i] == std::bit_cast<uint32_t>(fm::e4m3_to_float(c8)) && o[8 * i + 1] == c8 &&
                    o[8 * i + 2] == std::bit_cast<uint32_t>(fm::e2m1_to_float(c4)) && o[8 * i + 3] == c4 &&
                    int(o[8 * i + 4]) - 1000 == fp8_exponent(std::fabs(v)) &&
                    int(o[8 * i + 5]) - 1000 == fp4_exponent(std::fabs(v)) &&
                    o[8 * i + 6] == std::bit_cast<uint32_t>(fm::round_bf16(v)) &&
                    o[8 * i + 7] == std::bit_cast<uint32_t>(rt);
    if (!ok) {
      ++bad;
      ADD_FAILURE() << "value " << v << " (bits " << std::hex << std::bit_cast<uint32_t>(v) << "): gpu e4m3 "
                    << o[8 * i] << "/" << o[8 * i + 1] << " cpu " << std::bit_cast<uint32_t>(fm::e4m3_to_float(c8))
                    << "/" << unsigned(c8) << "; gpu e2m1 " << o[8 * i + 2] << "/" << o[8 * i + 3] << " cpu "
                    << unsigned(c4) << std::dec << "; exps " << int(o[8 * i + 4]) - 1000 << " vs "
                    << fp8_exponent(std::fabs(v)) << ", " << int(o[8 * i + 5]) - 1000 << " vs "
                    << fp4_exponent(std::fabs(v)) << "; roundtrip " << o[8 * i + 7] << " vs "
                    << std::bit_cast<uint32_t>(rt);
    }
  }
}

TEST(RopeSlotsTest, SlotsFollowTheConfigRatios) {
  ModelConfig c;
  c.rope_head_dim = 8;
  c.compress_ratios = {0, 4, 128, 4, 0};
  c.original_seq_len = 0;
  const gpu::RopeSlots s(c);
  EXPECT_EQ(s.count(), 4u);
  EXPECT_EQ(s.pairs(), 4u);
  EXPECT_EQ(s.at_pos(0), 0u);
  EXPECT_EQ(s.at_pos(128), 1u);
  EXPECT_EQ(s.window_start(4), 2u);
  EXPECT_EQ(s.window_start(128), 3u);
  EXPECT_THROW(s.window_start(16), std::logic_error);
  std::vector<gpu::StepRow> rows;
  const std::vector<int64_t> tokens = {5, 6, 7};
  gpu::append_rows(rows, 10, tokens, 2);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].pos, 12);
  EXPECT_EQ(rows[2].first_row, 0);
  std::vector<float> t(3 * 4 * 4 * 2);
  s.fill(rows, t);
  // Row 1 (pos 11), slot 2 = the ratio-4 window starting at 8: pair 1 of the YaRN table.
  const float angle = 8.f * s.yarn().freqs[1];
  EXPECT_EQ(t[((1 * 4 + 2) * 4 + 1) * 2], std::cos(angle));
  EXPECT_EQ(t[((1 * 4 + 2) * 4 + 1) * 2 + 1], std::sin(angle));
}

}  // namespace
}  // namespace dsv4::test
