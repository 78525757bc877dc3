// Every code point of every number format (model-spec §2.3, §4.2-4.4), against hand-derived
// values and a brute-force nearest-code search (an encoder independent of the one under test).
#include "weights/formats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace dsv4::formats {
namespace {

// The e4m3fn value of a code, from the definition (1 sign, 4 exponent bits with bias 7, 3 mantissa
// bits, exponent 0 subnormal), written out independently of e4m3_to_float.
double e4m3_reference(int c) {
  const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
  if (e == 15 && m == 7) return NAN;
  const double mag = e == 0 ? m / 8.0 / 64.0 : (1.0 + m / 8.0) * std::pow(2.0, e - 7);
  return s ? -mag : mag;
}

// Nearest code by exhaustive search, ties to the even code (code LSB = mantissa LSB), saturating.
template <typename Decode>
int nearest_code(double x, int ncodes, Decode decode) {
  int best = -1;
  double bd = 0;
  for (int c = 0; c < ncodes; ++c) {
    const double v = decode(c);
    if (std::isnan(v) || std::signbit(v) != std::signbit(x)) continue;
    const double d = std::fabs(v - x);
    if (best < 0 || d < bd || (d == bd && (c & 1) == 0)) best = c, bd = d;
  }
  return best;
}

TEST(E4M3, EveryCodeDecodes) {
  for (int c = 0; c < 256; ++c) {
    const double ref = e4m3_reference(c);
    const float v = e4m3_to_float(uint8_t(c));
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(v)) << c;
      continue;
    }
    EXPECT_EQ(double(v), ref) << c;
    EXPECT_EQ(std::signbit(v), c >= 128) << c;  // 0x80 is -0
  }
  EXPECT_EQ(e4m3_to_float(0x7e), 448.f);
  EXPECT_EQ(e4m3_to_float(0x38), 1.f);
  EXPECT_EQ(e4m3_to_float(0x08), 0x1p-6f);  // smallest normal
  EXPECT_EQ(e4m3_to_float(0x01), 0x1p-9f);  // smallest subnormal
  EXPECT_EQ(e4m3_to_float(0x07), 7 * 0x1p-9f);
  EXPECT_TRUE(std::isnan(e4m3_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3_to_float(0xff)));
}

TEST(E4M3, EveryCodeRoundTripsAndMidpointsRoundToEven) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    EXPECT_EQ(float_to_e4m3(e4m3_to_float(uint8_t(c))), c) << c;
  }
  // Midpoints between neighbouring positive codes go to the code with an even mantissa.
  for (int c = 0; c < 0x7e; ++c) {
    const double mid = (e4m3_reference(c) + e4m3_reference(c + 1)) / 2;
    const int even = (c & 1) ? c + 1 : c;
    EXPECT_EQ(float_to_e4m3(float(mid)), even) << "midpoint after " << c;
    EXPECT_EQ(float_to_e4m3(float(-mid)), even | 0x80) << "negative midpoint after " << c;
  }
}

TEST(E4M3, SaturatesAndMapsNaN) {
  EXPECT_EQ(float_to_e4m3(448.f), 0x7e);
  EXPECT_EQ(float_to_e4m3(463.f), 0x7e);
  EXPECT_EQ(float_to_e4m3(465.f), 0x7e);
  EXPECT_EQ(float_to_e4m3(1e30f), 0x7e);
  EXPECT_EQ(float_to_e4m3(INFINITY), 0x7e);
  EXPECT_EQ(float_to_e4m3(-INFINITY), 0xfe);
  EXPECT_EQ(float_to_e4m3(NAN), 0x7f);
  EXPECT_EQ(float_to_e4m3(0x1p-11f), 0x00);  // below half the smallest subnormal
  EXPECT_EQ(float_to_e4m3(0x1p-10f), 0x00);  // exactly half: ties to even (0)
  EXPECT_EQ(float_to_e4m3(0x1.8p-10f), 0x01);
}

TEST(E4M3, MatchesBruteForceOnRandomValues) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> e(-12, 9.5);
  for (int i = 0; i < 20000; ++i) {
    const float x = float((i & 1 ? -1 : 1) * std::pow(2.0, e(rng)));
    const int ref = nearest_code(x, 256, e4m3_reference);
    EXPECT_EQ(float_to_e4m3(x), ref) << x;
  }
}

double e2m1_reference(int c) {
  static const double kTable[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};  // model-spec §2.3
  return (c & 8) ? -kTable[c & 7] : kTable[c & 7];
}

TEST(E2M1, All16Codes) {
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(double(e2m1_to_float(uint8_t(c))), e2m1_reference(c)) << c;
    EXPECT_EQ(float_to_e2m1(e2m1_to_float(uint8_t(c))), c) << c;  // incl. code 8 = -0
  }
  // Only the low nibble matters.
  EXPECT_EQ(e2m1_to_float(0xf7), 6.f);
}

TEST(E2M1, MidpointsTiesToEvenAndSaturation) {
  // midpoint -> expected code, derived by hand: the even mantissa wins
  const std::pair<float, int> ties[] = {{0.25f, 0}, {0.75f, 2}, {1.25f, 2}, {1.75f, 4},
                                        {2.5f, 4},  {3.5f, 6},  {5.f, 6}};
  for (auto [x, code] : ties) {
    EXPECT_EQ(float_to_e2m1(x), code) << x;
    EXPECT_EQ(float_to_e2m1(-x), code | 8) << x;
  }
  EXPECT_EQ(float_to_e2m1(7.f), 7);
  EXPECT_EQ(float_to_e2m1(1e9f), 7);
  EXPECT_EQ(float_to_e2m1(-INFINITY), 15);
  EXPECT_EQ(float_to_e2m1(NAN), 0);
  std::mt19937 rng(2);
  std::uniform_real_distribution<double> u(-8, 8);
  for (int i = 0; i < 5000; ++i) {
    const float x = float(u(rng));
    EXPECT_EQ(float_to_e2m1(x), nearest_code(x, 16, e2m1_reference)) << x;
  }
}

TEST(E2M1, PackedLowNibbleFirst) {
  const uint8_t row[2] = {0x21, 0xf7};  // elements: code 1, code 2, code 7, code 15
  EXPECT_EQ(fp4_packed_at(row, 0), 0.5f);
  EXPECT_EQ(fp4_packed_at(row, 1), 1.0f);
  EXPECT_EQ(fp4_packed_at(row, 2), 6.0f);
  EXPECT_EQ(fp4_packed_at(row, 3), -6.0f);
}

TEST(E8M0, EveryCode) {
  for (int b = 0; b < 256; ++b) {
    const float v = e8m0_to_float(uint8_t(b));
    if (b == 255) {
      EXPECT_TRUE(std::isnan(v));
      continue;
    }
    EXPECT_EQ(double(v), std::pow(2.0, b - 127)) << b;  // incl. 0x00 = 2^-127 (fp32 subnormal)
    EXPECT_EQ(pow2_to_e8m0(v), b) << b;
  }
  EXPECT_EQ(e8m0_to_float(127), 1.f);
}

TEST(BF16, EveryCodeRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_float(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(f)))) << h;
      continue;
    }
    EXPECT_EQ(float_to_bf16(f), h) << h;
  }
  EXPECT_EQ(bf16_to_float(0x3f80), 1.f);
  EXPECT_EQ(bf16_to_float(0xc000), -2.f);
}

TEST(BF16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.f + 0x1p-8f), 0x3f80);         // halfway, even stays
  EXPECT_EQ(float_to_bf16(1.f + 3 * 0x1p-8f), 0x3f82);     // halfway, odd rounds up
  EXPECT_EQ(float_to_bf16(1.f + 0x1p-8f + 0x1p-20f), 0x3f81);  // above halfway
  EXPECT_EQ(float_to_bf16(-(1.f + 0x1p-8f)), 0xbf80);
  EXPECT_EQ(float_to_bf16(3.4028235e38f), 0x7f80);  // rounds past the largest bf16 -> inf
  EXPECT_EQ(round_bf16(0.1f), 0.10009765625f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

TEST(F16, EveryCode) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    const float v = f16_to_float(uint16_t(h));
    if (e == 31) {
      EXPECT_EQ(std::isnan(v), m != 0) << h;
      if (!m) {
        EXPECT_EQ(v, s ? -INFINITY : INFINITY) << h;
      }
      continue;
    }
    const double mag = e == 0 ? m * std::pow(2.0, -24) : (1 + m / 1024.0) * std::pow(2.0, e - 15);
    EXPECT_EQ(double(v), s ? -mag : mag) << h;
    EXPECT_EQ(std::signbit(v), s == 1) << h;
  }
  EXPECT_EQ(f16_to_float(0x3c00), 1.f);
  EXPECT_EQ(f16_to_float(0x7bff), 65504.f);
}

TEST(ActQuant, PowerOfTwoScales) {
  EXPECT_EQ(fast_log2_ceil(1.f), 0);
  EXPECT_EQ(fast_log2_ceil(1.5f), 1);
  EXPECT_EQ(fast_log2_ceil(0.25f), -2);
  EXPECT_EQ(fast_pow2(-3), 0.125f);
  EXPECT_EQ(fp8_block_scale(448.f), 1.f);
  EXPECT_EQ(fp8_block_scale(449.f), 2.f);
  EXPECT_EQ(fp8_block_scale(224.f), 0.5f);
  EXPECT_EQ(fp8_block_scale(0.f), 0x1p-22f);  // amax floored at 1e-4: 1e-4/448 in (2^-23, 2^-22]
  EXPECT_EQ(fp4_block_scale(6.f), 1.f);
  EXPECT_EQ(fp4_block_scale(6.5f), 2.f);
  EXPECT_EQ(fp4_block_scale(3.f), 0.5f);
  // Every amax in range gives a scale s with amax/s <= 448 and amax/s > 224 (no headroom wasted).
  for (float a = 1e-3f; a < 1e6f; a *= 1.37f) {
    const float s = fp8_block_scale(a);
    EXPECT_LE(a / s, 448.f) << a;
    EXPECT_GT(a / s, 224.f * (1 - 1e-6f)) << a;
  }
}

}  // namespace
}  // namespace dsv4::formats
