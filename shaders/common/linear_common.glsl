// Helpers shared by the linear-layer kernels (shaders/linear/): weight unpacking with 16-byte
// loads, exact power-of-two scaling, and the output rounding of graph::linear / linear_fp32.
// Needs the including shader to define OUT_F32 and SCALED (spec constants) and include quant.glsl.
#ifndef DSV4_LINEAR_COMMON_GLSL
#define DSV4_LINEAR_COMMON_GLSL

// Four e4m3 codes (bytes of w, little-endian) as fp32 values * 2^-8: the 7 magnitude bits shifted
// into an fp16's exponent/mantissa give value * 2^-(15-7), exact for normals and subnormals alike.
// Bytes 0 and 2 land in one fp16 pair, 1 and 3 in the other, each with one shift per field and a
// bitwise select: 5 integer instructions a word (extracting the bytes first took ~12, and the
// decode is most of the FP8 GEMV's instruction count). (NaN codes 0x7F/0xFF do not occur in
// checkpoints and decode to finite values here.)
vec4 e4m3x4_scaled(uint w) {
  const uint even = ((w << 7) & 0x3f803f80u) | ((w << 8) & 0x80008000u);  // bytes 0, 2
  const uint odd = ((w >> 1) & 0x3f803f80u) | (w & 0x80008000u);         // bytes 1, 3
  const vec2 e = unpackHalf2x16(even), o = unpackHalf2x16(odd);
  return vec4(e.x, o.x, e.y, o.y);
}

// Four bf16 values packed in two words.
vec4 bf16x4(uvec2 w) {
  return vec4(uintBitsToFloat(w.x << 16), uintBitsToFloat(w.x & 0xffff0000u), uintBitsToFloat(w.y << 16),
              uintBitsToFloat(w.y & 0xffff0000u));
}

// v * s * 2^e with s an fp32 weight scale read by its bits: a subnormal s (e8m0 0x00 = 2^-127)
// would be flushed by devices without denorm preservation, so its mantissa and exponent are
// applied separately with ldexp (exact while the result is a normal fp32).
float scale_by(float v, float s, int e) {
  const uint b = floatBitsToUint(s);
  const uint ex = (b >> 23) & 0xffu;
  if (ex == 0u) return ldexp(v * float(b & 0x7fffffu), e - 149);
  const float mant = uintBitsToFloat((b & 0x807fffffu) | 0x3f800000u);  // [1, 2) with s's sign
  return ldexp(v * mant, e + int(ex) - 127);
}

// v * s * 2^e like scale_by, fast: adding e to s's exponent field is one integer add and exact
// while s and s * 2^e are normal fp32 (every realistic scale); other cases take scale_by.
float scale_by_fast(float v, float s, int e) {
  const uint b = floatBitsToUint(s);
  const int ex = int((b >> 23) & 0xffu);
  return ex > 0 && ex + e > 0 && ex + e < 255 ? v * uintBitsToFloat(b + uint(e << 23)) : scale_by(v, s, e);
}

// graph::linear rounds the fp32 sum to bf16 (then * out_scale, rounded again: the indexer's
// weights_proj); graph::linear_fp32 keeps it.
float finish_output(float acc, float out_scale) {
  if (OUT_F32) return acc;
  const float b = round_bf16(acc);
  return SCALED ? round_bf16(b * out_scale) : b;
}

#endif  // DSV4_LINEAR_COMMON_GLSL
