// Exact fp16 operands for the fp16 cooperative-matrix kernels: a chunk of values (bf16 or e4m3
// times a power of two, at most 8-bit significands) scaled by one power of two into fp16's range.
// Included by coopmat.glsl, and by kernels that prepare such operands without multiplying. Needs
// GL_EXT_shader_explicit_arithmetic_types_float16.
#ifndef DSV4_FP16_CHUNK_GLSL
#define DSV4_FP16_CHUNK_GLSL

// v * 2^e for any int e whose result is a normal fp32 (two steps: 2^e itself may not be).
float ldexp_wide(float v, int e) { return ldexp(ldexp(v, e / 2), e - e / 2); }

// s with max * 2^s in [2^14, 2^15): the power of two that brings a chunk of values whose largest
// |value| is max (fp32 bits) into fp16 with headroom (exact down to 2^-31 of max for 8-bit
// mantissas). 0 for an all-zero chunk; within +-100 so 2^s is a normal fp32 (a chunk past that,
// |values| above 2^114 or all below 2^-86, is far outside a model's range).
int fp16_chunk_shift(uint max_bits) {
  if (max_bits == 0u) return 0;
  int e;
  frexp(uintBitsToFloat(max_bits), e);  // max < 2^e
  return clamp(15 - e, -100, 100);
}

// Four values as fp16 bits, two per word in lane order (the caller has scaled them into range).
uvec2 pack_half4(vec4 v) { return uvec2(packFloat2x16(f16vec2(v.xy)), packFloat2x16(f16vec2(v.zw))); }

#endif  // DSV4_FP16_CHUNK_GLSL
