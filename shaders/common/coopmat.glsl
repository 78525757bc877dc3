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

#include "fp16_chunk.glsl"
