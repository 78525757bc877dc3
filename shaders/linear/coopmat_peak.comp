// Peak probe for bench/gpu_gemm_bench.cpp: fp16 x fp16 -> fp32 cooperative-matrix (NV; _khr: KHR)
// multiply-adds with no memory traffic (4 independent accumulators per subgroup, ITERS each), the
// reference that GEMM throughput is reported against.
#version 450
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_GOOGLE_include_directive : require

#include "coopmat.glsl"

layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) buffer O { float o[]; };
layout(push_constant) uniform Push { uint iters; float seed; } pc;

void main() {
  CM_A a = CM_A(float16_t(pc.seed));
  CM_B b = CM_B(float16_t(pc.seed * 0.5));
  CM_ACC c0 = CM_ACC(0.0);
  CM_ACC c1 = c0, c2 = c0, c3 = c0;
  for (uint i = 0u; i < pc.iters; ++i) {
    c0 = coopMatMulAddNV(a, b, c0);
    c1 = coopMatMulAddNV(a, b, c1);
    c2 = coopMatMulAddNV(a, b, c2);
    c3 = coopMatMulAddNV(a, b, c3);
  }
  c0 = c0 + c1 + c2 + c3;
  const uint sg = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID;
  coopMatStoreNV(c0, o, sg * 256u, 16u, false);
}
