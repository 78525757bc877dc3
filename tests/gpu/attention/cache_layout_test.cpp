// graph/vulkan/cache_layout.h: the C++ entry codecs are lossless on the reference's round-trip
// values (bit-exact decode of encode), agree with the V4 sizes of cache_layout.glsl, and refuse
// values that no block scale represents.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "graph/quant.h"
#include "graph/vulkan/cache_layout.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = formats::round_bf16(d(rng));
  return v;
}

void expect_bits_equal(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(a[i]), std::bit_cast<uint32_t>(b[i])) << "element " << i << ": " << a[i] << " vs " << b[i];
}

TEST(CacheLayoutTest, V4Sizes) {
  EXPECT_EQ((gpu::KvEntryLayout{448, 64}.bytes()), 584u);
  EXPECT_EQ((gpu::IndexEntryLayout{128}.bytes()), 68u);
  EXPECT_EQ((gpu::KvEntryLayout{48, 16}.bytes()), 88u);  // 48 + 32 + 1 -> 81 -> 88
  EXPECT_EQ(gpu::entry_offset(2, 3, 10, 584), (2u * 10 + 3) * 584u);
}

TEST(CacheLayoutTest, KvEntryRoundTripIsBitExact) {
  for (const gpu::KvEntryLayout l : {gpu::KvEntryLayout{448, 64}, gpu::KvEntryLayout{48, 16}, gpu::KvEntryLayout{100, 8}}) {
    for (uint32_t seed = 0; seed < 20; ++seed) {
      // Scales spanning tiny (clamped 1e-4 amax) to large blocks, with zero blocks and +-0.
      const float sd = std::ldexp(1.f, int(seed % 10) * 3 - 20);
      std::vector<float> x = random_values(l.head_dim(), seed, sd);
      if (seed % 4 == 1) std::fill(x.begin(), x.begin() + std::min<uint32_t>(64, l.nope), 0.f);
      if (seed % 4 == 2) x[0] = -0.f;
      graph::fp8_roundtrip(std::span<float>(x).first(l.nope), 64);
      std::vector<uint8_t> bytes(l.bytes(), 0xAA);
      gpu::encode_kv_entry(l, x, bytes);
      std::vector<float> y(l.head_dim());
      gpu::decode_kv_entry(l, bytes, y);
      expect_bits_equal(y, x);
      for (uint32_t i = l.scale_byte() + l.blocks(); i < l.bytes(); ++i) EXPECT_EQ(bytes[i], 0) << "padding";
    }
  }
}

TEST(CacheLayoutTest, IndexEntryRoundTripIsBitExact) {
  for (const gpu::IndexEntryLayout l : {gpu::IndexEntryLayout{128}, gpu::IndexEntryLayout{64}}) {
    for (uint32_t seed = 0; seed < 20; ++seed) {
      std::vector<float> x = random_values(l.dim, 100 + seed, std::ldexp(1.f, int(seed % 8) * 4 - 16));
      if (seed % 3 == 1) std::fill(x.begin(), x.begin() + 32, 0.f);
      graph::fp4_roundtrip(x, 32);
      std::vector<uint8_t> bytes(l.bytes(), 0x55);
      gpu::encode_index_entry(l, x, bytes);
      std::vector<float> y(l.dim);
      gpu::decode_index_entry(l, bytes, y);
      expect_bits_equal(y, x);
    }
  }
}

TEST(CacheLayoutTest, RefusesValuesNoScaleRepresents) {
  const gpu::KvEntryLayout l{64, 8};
  std::vector<float> x(72, 0.f);
  x[0] = 448.f;
  x[1] = 1.0625f;  // needs 5 significant bits next to 448 at scale 1
  std::vector<uint8_t> bytes(l.bytes());
  EXPECT_THROW(gpu::encode_kv_entry(l, x, bytes), std::invalid_argument);
  x[1] = 0.f;
  x[64] = 1.00390625f;  // not a bf16
  EXPECT_THROW(gpu::encode_kv_entry(l, x, bytes), std::invalid_argument);
  const gpu::IndexEntryLayout il{32};
  std::vector<float> z(32, 0.f);
  z[0] = 6.f;
  z[1] = 2.5f;
  std::vector<uint8_t> ib(il.bytes());
  EXPECT_THROW(gpu::encode_index_entry(il, z, ib), std::invalid_argument);
}

}  // namespace
}  // namespace dsv4::test
