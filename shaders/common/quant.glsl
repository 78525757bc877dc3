// Encoders and quantisation round-trips of the official kernels (model-spec §4.2-4.4), bit-exact
// with weights/formats.h and graph/quant.cpp: e4m3fn and e2m1 rounding (to nearest even,
// saturating), the power-of-two ue8m0 block scales, bf16 rounding. Scaling by a power of two uses
// ldexp, which is exact (no reciprocal, no flushed denormal scale) on every device.
#ifndef DSV4_QUANT_GLSL
#define DSV4_QUANT_GLSL

#include "formats.glsl"

float round_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// |r| with the sign bit of f (keeps -0 and values that round to -0 as the C++ encoders do).
float with_sign_of(float r, float f) { return uintBitsToFloat(floatBitsToUint(r) | (floatBitsToUint(f) & 0x80000000u)); }
bool sign_bit(float v) { return (floatBitsToUint(v) & 0x80000000u) != 0u; }

// ---- e4m3fn ------------------------------------------------------------------------------------
// Nearest-even e4m3 value of f, saturating at ±448; NaN -> NaN (code 0x7F). Rounding by bits, not
// ldexp/roundEven: the act-quant GEMVs run this on every activation in every workgroup.
float e4m3_round(float f) {
  if (isnan(f)) return f;
  const float a = abs(f);
  float r;
  if (a < 0.015625) {  // subnormal range (< 2^-6): quantum 2^-9, the fp32 ulp at 2^14
    precise float t = a + 16384.0;
    precise float u = t - 16384.0;
    r = u;
  } else {  // 3 mantissa bits, to nearest even by adding half an ulp (a carry bumps the exponent)
    const uint u = floatBitsToUint(a);
    r = min(uintBitsToFloat((u + 0x7ffffu + ((u >> 20) & 1u)) & 0xfff00000u), 448.0);  // +inf -> 448 too
  }
  return with_sign_of(r, f);
}

// The e4m3fn code of an already representable value v (e4m3_round's result; NaN -> 0x7F).
uint e4m3_code(float v) {
  if (isnan(v)) return 0x7fu;
  const uint sign = sign_bit(v) ? 0x80u : 0u;
  const float a = abs(v);
  if (a < 0.015625) return sign | uint(ldexp(a, 9));  // subnormal: m * 2^-9
  const int e = int((floatBitsToUint(a) >> 23) & 0xffu) - 127;
  const uint m = uint(ldexp(a, 3 - e)) - 8u;
  return sign | (uint(e + 7) << 3) | m;
}

// ---- e2m1 (FP4) ----------------------------------------------------------------------------------
// Nearest e2m1 value of f, ties to the even code, saturating at ±6; NaN -> +0.
float e2m1_round(float f) {
  if (isnan(f)) return 0.0;
  const float a = abs(f);
  float r;
  if (a >= 6.0) r = 6.0;
  else if (a < 2.0) r = roundEven(a * 2.0) * 0.5;  // 0, .5, 1, 1.5, 2
  else if (a < 4.0) r = roundEven(a);              // 2, 3, 4
  else r = roundEven(a * 0.5) * 2.0;               // 4, 6
  return with_sign_of(r, f);
}

// The e2m1 code (nibble) of a representable value v.
uint e2m1_code(float v) {
  const uint sign = sign_bit(v) ? 8u : 0u;
  const float a = abs(v);
  uint c;
  if (a < 2.0) c = uint(a * 2.0);           // 0 .. 3 (2.0 handled below)
  else if (a < 4.0) c = uint(a) + 2u;       // 2 -> 4, 3 -> 5
  else c = a < 6.0 ? 6u : 7u;               // 4 -> 6, 6 -> 7
  return sign | c;
}

// ---- ue8m0 block scales (fast_log2_ceil / fast_pow2 of the official act_quant kernels) ---------
int log2_ceil_bits(float v) {
  const uint u = floatBitsToUint(v);
  return int((u >> 23) & 0xffu) - 127 + ((u & 0x7fffffu) != 0u ? 1 : 0);
}
// Exponent of the FP8 block scale 2^ceil(log2(max(amax, 1e-4) * fp32(1/448))).
int fp8_scale_exponent(float amax) {
  precise float v = max(amax, uintBitsToFloat(0x38d1b717u)) * uintBitsToFloat(0x3b124925u);
  return log2_ceil_bits(v);
}
// Exponent of the FP4 block scale 2^ceil(log2(max(amax, 6 * 2^-126) * fp32(1/6))).
int fp4_scale_exponent(float amax) {
  precise float v = max(amax, uintBitsToFloat(0x01c00000u)) * uintBitsToFloat(0x3e2aaaabu);
  return log2_ceil_bits(v);
}
// The e8m0 byte of the scale 2^e.
uint e8m0_code(int e) { return uint(e + 127); }

// act_quant (§4.2): x -> e4m3(x / s) * s with s = 2^e from fp8_scale_exponent(block amax).
float fp8_quant(float x, int e) { return ldexp(e4m3_round(ldexp(x, -e)), e); }
// The KV nope / compressed-entry round-trip (§4.3): fp8_quant rounded to bf16.
float fp8_roundtrip(float x, int e) { return round_bf16(fp8_quant(x, e)); }
// The FP4 round-trip (§4.4): e2m1(clamp(x / s, -6, 6)) * s rounded to bf16, s = 2^e.
float fp4_roundtrip(float x, int e) { return round_bf16(ldexp(e2m1_round(clamp(ldexp(x, -e), -6.0, 6.0)), e)); }

#endif  // DSV4_QUANT_GLSL
