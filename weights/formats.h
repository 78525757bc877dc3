// The number formats of DeepSeek-V4 checkpoints and activations (model-spec §2.3, §4.2-4.4):
// exact decoders and round-to-nearest-even, saturating encoders. Header-only so the CPU
// reference, the checkpoint writer and the tests share one definition.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace dsv4::formats {

// ---- bf16 -------------------------------------------------------------------------------------
inline float bf16_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

// Round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t float_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float round_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// ---- fp16 (IEEE binary16) -----------------------------------------------------------------------
inline float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0) return std::bit_cast<float>(sign) + (sign ? -1.f : 1.f) * std::ldexp(float(man), -24);
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
}

// ---- e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no inf; 0x7F/0xFF NaN; max 448 ----------
inline float e4m3_to_float(uint8_t c) {
  const float sign = (c & 0x80) ? -1.f : 1.f;
  const int exp = (c >> 3) & 0xf, man = c & 0x7;
  if (exp == 15 && man == 7) return std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(float(man), -9);  // subnormal: m/8 * 2^-6
  return sign * std::ldexp(float(8 + man), exp - 10);      // (1 + m/8) * 2^(e-7)
}

// Round to nearest even, saturating to ±448 (CUDA satfinite semantics); NaN -> 0x7F.
inline uint8_t float_to_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  float a = std::fabs(f);
  if (a >= 448.f) return sign | 0x7e;
  if (a < 0x1p-6f) {  // subnormal range: quantum 2^-9
    const int q = int(std::nearbyint(a * 0x1p9f));  // 0..8; 8 is the smallest normal
    return q == 8 ? uint8_t(sign | 0x08) : uint8_t(sign | q);
  }
  int e2;
  std::frexp(a, &e2);  // a = m * 2^e2, m in [0.5, 1): unbiased exponent e2-1
  const int e = e2 - 1;
  int q = int(std::nearbyint(std::ldexp(a, 3 - e)));  // 8..16
  int exp = e + 7;
  if (q == 16) { q = 8; ++exp; }
  if (exp > 15 || (exp == 15 && q - 8 == 7)) return sign | 0x7e;  // rounds past 448
  return uint8_t(sign | (exp << 3) | (q - 8));
}
inline float round_e4m3(float f) { return e4m3_to_float(float_to_e4m3(f)); }

// ---- e2m1 (FP4): codes 0..7 = 0, .5, 1, 1.5, 2, 3, 4, 6; bit 3 = sign --------------------------
inline float e2m1_to_float(uint8_t nibble) {
  static constexpr float kMag[8] = {0.f, 0.5f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f};
  const float v = kMag[nibble & 7];
  return (nibble & 8) ? -v : v;
}

// Round to nearest, ties to the even code, saturating to ±6; NaN -> +0.
inline uint8_t float_to_e2m1(float f) {
  if (std::isnan(f)) return 0;
  const uint8_t sign = std::signbit(f) ? 8 : 0;
  const float a = std::fabs(f);
  // Saturate first: for huge a (or inf) the distances to 4 and 6 compare equal in fp32.
  if (a >= 6.f) return sign | 7;
  uint8_t best = 0;
  for (uint8_t c = 1; c < 8; ++c) {
    const float dc = std::fabs(e2m1_to_float(c) - a), db = std::fabs(e2m1_to_float(best) - a);
    if (dc < db || (dc == db && (c & 1) == 0)) best = c;
  }
  return sign | best;
}
inline float round_e2m1(float f) { return e2m1_to_float(float_to_e2m1(f)); }

// Packed FP4: byte j of a row holds element 2j in the low nibble, 2j+1 in the high nibble.
inline float fp4_packed_at(const uint8_t* row, int64_t i) {
  const uint8_t b = row[i >> 1];
  return e2m1_to_float((i & 1) ? (b >> 4) : (b & 0xf));
}

// ---- e8m0: unsigned power of two 2^(b-127); 0xFF = NaN; no zero ---------------------------------
inline float e8m0_to_float(uint8_t b) {
  if (b == 0xff) return std::numeric_limits<float>::quiet_NaN();
  if (b == 0) return 0x1p-127f;  // fp32 subnormal, exact
  return std::bit_cast<float>(uint32_t(b) << 23);
}
// Exact for powers of two in [2^-127, 2^127].
inline uint8_t pow2_to_e8m0(float p) {
  if (p == 0x1p-127f) return 0;
  return uint8_t((std::bit_cast<uint32_t>(p) >> 23) & 0xff);
}

// ---- power-of-two scale of the official act_quant kernels (model-spec §4.2) ---------------------
// fast_log2_ceil(v) = exponent_field(v) - 127 + (mantissa != 0), then 2^that.
inline int fast_log2_ceil(float v) {
  const uint32_t u = std::bit_cast<uint32_t>(v);
  return int((u >> 23) & 0xff) - 127 + ((u & 0x7fffffu) != 0 ? 1 : 0);
}
inline float fast_pow2(int e) { return std::bit_cast<float>(uint32_t(e + 127) << 23); }

// Scale for an FP8 block with absolute maximum amax: 2^ceil(log2(max(amax,1e-4) * fp32(1/448))).
inline float fp8_block_scale(float amax) {
  return fast_pow2(fast_log2_ceil(std::fmax(amax, 1e-4f) * (1.0f / 448.0f)));
}
// Scale for an FP4 block: 2^ceil(log2(max(amax, 6*2^-126) * fp32(1/6))).
inline float fp4_block_scale(float amax) {
  return fast_pow2(fast_log2_ceil(std::fmax(amax, 6.0f * 0x1p-126f) * (1.0f / 6.0f)));
}

}  // namespace dsv4::formats
