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

// Four e4m3 codes -> two words of fp16 pairs, each e4m3 value * 2^-8: the 7 magnitude bits shifted
// into an fp16's exponent/mantissa (exact for normals and subnormals alike, linear_common.glsl).
uvec2 e4m3x4_half_bits(uint wd) {
  const uint lo = (wd & 0xffu) | ((wd & 0xff00u) << 8);
  const uint hi = ((wd >> 16) & 0xffu) | ((wd >> 8) & 0xff0000u);
  return uvec2(((lo & 0x007f007fu) << 7) | ((lo & 0x00800080u) << 8), ((hi & 0x007f007fu) << 7) | ((hi & 0x00800080u) << 8));
}

// v * 2^e for any int e whose result is a normal fp32 (two steps: 2^e itself may not be).
float ldexp_wide(float v, int e) { return ldexp(ldexp(v, e / 2), e - e / 2); }
