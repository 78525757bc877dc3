// Decoders of the number formats in DeepSeek-V4 checkpoints (model-spec §2.3), bit-exact with
// weights/formats.h. Every decoder builds the fp32 bit pattern with integer operations, so
// no float arithmetic can round, flush or canonicalise the result.
//
// Denormals: e8m0 0x00 is 2^-127 and bf16 codes with a zero exponent are fp32 subnormals. The
// decoders return them exactly (bit patterns), but a device without shaderDenormPreserveFloat32
// (lavapipe, many GPUs) may flush them to zero in later arithmetic. Kernels that scale by e8m0 and
// must stay exact for tiny scales use e8m0_exponent() with ldexp() instead of multiplying by
// e8m0_to_float(); Caps::denorm_preserve_fp32 says whether the device keeps them.
#ifndef DSV4_FORMATS_GLSL
#define DSV4_FORMATS_GLSL

const uint DSV4_F32_QNAN = 0x7fc00000u;

// ---- packed storage: sub-word elements of a uint array (little-endian) ---------------------------
uint byte_in_word(uint word, uint i) { return (word >> (8u * (i & 3u))) & 0xffu; }
uint half_in_word(uint word, uint i) { return (word >> (16u * (i & 1u))) & 0xffffu; }
// FP4 packing: element 2j is the low nibble of byte j, 2j+1 the high nibble (model-spec §2.3), so
// nibble i of a little-endian word is bits [4i, 4i+4).
uint nibble_in_word(uint word, uint i) { return (word >> (4u * (i & 7u))) & 0xfu; }

// The 8 e2m1 codes of a word (low nibble first) as fp32 values * 2^-14, codes 0-3 in lo and 4-7 in
// hi: a code's 3 magnitude bits shifted into an fp16's low exponent bits and top mantissa bit give
// value * 2^-14 (the code 0.5 becomes an fp16 subnormal, still exact), and codes k and k + 4 share
// a shift: 11 integer instructions a word, no table.
void e2m1x8_scaled(uint w, out vec4 lo, out vec4 hi) {
  const uint M = 0x0e000e00u, S = 0x80008000u;
  const vec2 h0 = unpackHalf2x16(((w << 9) & M) | ((w << 12) & S));
  const vec2 h1 = unpackHalf2x16(((w << 5) & M) | ((w << 8) & S));
  const vec2 h2 = unpackHalf2x16(((w << 1) & M) | ((w << 4) & S));
  const vec2 h3 = unpackHalf2x16(((w >> 3) & M) | (w & S));
  lo = vec4(h0.x, h1.x, h2.x, h3.x);
  hi = vec4(h0.y, h1.y, h2.y, h3.y);
}

// ---- bf16: the high half of an fp32 ----------------------------------------------------------------
float bf16_to_float(uint b) { return uintBitsToFloat((b & 0xffffu) << 16); }

// Round to nearest even; NaN stays a quiet NaN (as dsv4::formats::float_to_bf16).
uint float_to_bf16(float f) {
  uint u = floatBitsToUint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return ((u >> 16) | 0x40u) & 0xffffu;
  u += 0x7fffu + ((u >> 16) & 1u);
  return u >> 16;
}

// ---- e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no inf; 0x7F/0xFF NaN; max 448 ------------
float e4m3_to_float(uint c) {
  const uint sign = (c & 0x80u) << 24;
  const uint e = (c >> 3) & 0xfu, m = c & 7u;
  if (e == 15u && m == 7u) return uintBitsToFloat(DSV4_F32_QNAN);
  uint bits;
  if (e != 0u) {
    bits = ((e + 120u) << 23) | (m << 20);  // (1 + m/8) * 2^(e-7): rebias 7 -> 127
  } else if (m == 0u) {
    bits = 0u;  // ±0
  } else {
    // Subnormal m/8 * 2^-6 = m * 2^-9, a normal fp32: leading bit p of m gives exponent p - 9.
    const uint p = uint(findMSB(m));
    bits = ((118u + p) << 23) | ((m - (1u << p)) << (23u - p));
  }
  return uintBitsToFloat(sign | bits);
}

// ---- e2m1 (FP4): codes 0..7 = 0, .5, 1, 1.5, 2, 3, 4, 6; bit 3 = sign ---------------------------
float e2m1_to_float(uint c) {
  const uint sign = (c & 8u) << 28;
  const uint e = (c >> 1) & 3u, m = c & 1u;
  uint bits;
  if (e != 0u) bits = ((126u + e) << 23) | (m << 22);  // (1 + m/2) * 2^(e-1)
  else bits = m * 0x3f000000u;                          // 0 or 0.5
  return uintBitsToFloat(sign | bits);
}

// ---- e8m0: unsigned power of two 2^(b-127); 0xFF = NaN; no zero ---------------------------------
float e8m0_to_float(uint b) {
  b &= 0xffu;
  if (b == 0xffu) return uintBitsToFloat(DSV4_F32_QNAN);
  if (b == 0u) return uintBitsToFloat(0x00400000u);  // 2^-127: fp32 subnormal (see above)
  return uintBitsToFloat(b << 23);
}
// The power of two of an e8m0 scale (b != 0xFF): x * 2^e8m0_exponent(b) == ldexp(x, ...), exact
// whenever the result is a normal fp32, even on devices that flush denormal inputs.
int e8m0_exponent(uint b) { return int(b & 0xffu) - 127; }

// ---- fp16 bit patterns of weight codes, for tensor-core operands (the coopmat GEMMs) ------------
// Four e4m3 codes -> two words of fp16 pairs, each e4m3 value * 2^-8: the 7 magnitude bits shifted
// into an fp16's exponent/mantissa (exact for normals and subnormals alike).
uvec2 e4m3x4_half_bits(uint wd) {
  const uint lo = (wd & 0xffu) | ((wd & 0xff00u) << 8);
  const uint hi = ((wd >> 16) & 0xffu) | ((wd >> 8) & 0xff0000u);
  return uvec2(((lo & 0x007f007fu) << 7) | ((lo & 0x00800080u) << 8), ((hi & 0x007f007fu) << 7) | ((hi & 0x00800080u) << 8));
}

// A word of eight e2m1 codes (low nibble first) -> four words of fp16 pairs, codes (0, 4), (1, 5),
// (2, 6), (3, 7), each e2m1 * 2^-14: the code's 3 magnitude bits shifted to fp16 bits 9-11 put its
// exponent e in the fp16 exponent field and its mantissa bit on top, so a normal code reads
// 2^(e-15) * (1 + m/2) and 0.5 (e = 0, m = 1) reads the subnormal 2^-15. The pairing is what one
// shift serves per pair (codes 4 apart sit 16 bits apart); operands multiplied against these must
// take the same order. Scale by an fp16 multiply in a shader that preserves fp16 denormals.
uvec4 e2m1x8_half_bits(uint w) {
  return uvec4(((w << 9) & 0x0e000e00u) | ((w << 12) & 0x80008000u),
               ((w << 5) & 0x0e000e00u) | ((w << 8) & 0x80008000u),
               ((w << 1) & 0x0e000e00u) | ((w << 4) & 0x80008000u),
               ((w >> 3) & 0x0e000e00u) | (w & 0x80008000u));
}

#endif  // DSV4_FORMATS_GLSL
