// The operand types of an fp16 x fp16 -> fp32 16x16x16 cooperative-matrix multiply-add, for
// kernels written against GL_NV_cooperative_matrix that the build also turns into
// VK_KHR_cooperative_matrix kernels (<name>_khr, vk/spirv_coopmat_khr.h). A KHR matrix type has
// one use (A, B or accumulator), which the rewriter reads off how the NV type is used; K is a
// specialization constant (always 16, never set by the host) only so that A (16 x K) and B (K x 16)
// are distinct SPIR-V types rather than one 16 x 16 fp16 type in both roles.
// Needs GL_NV_cooperative_matrix and GL_EXT_shader_explicit_arithmetic_types_float16.
layout(constant_id = 20) const uint COOPMAT_K = 16;
#define CM_A fcoopmatNV<16, gl_ScopeSubgroup, 16, COOPMAT_K>
#define CM_B fcoopmatNV<16, gl_ScopeSubgroup, COOPMAT_K, 16>
#define CM_ACC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

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
