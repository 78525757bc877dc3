// act_quant of graph::linear for the scratch-fed FP8 GEMV (gemv_q.comp): each 1x128 block of x
// becomes e4m3(x / 2^e), kept unscaled as fp16 pairs (exact), plus the block exponent e. Done once
// per linear instead of once per GEMV workgroup, so the GEMV needs no atomics and no barriers
// before its weight loads.
//
// Scratch layout, per virtual row v = m * groups + g (activation row m, group g of a grouped
// linear: x columns [g*K, (g+1)*K)): QS words (QS = K/2 + ceil(K/128) rounded up to a multiple of
// 4, so 16-byte loads stay aligned): K/2 fp16 pairs, then ceil(K/128) exponents (int bits).
//
// Workgroup: one block of one virtual row, 64 threads x 2 elements; the block amax meets in a
// shared-memory tree (deterministic, valid for every subgroup size).
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64) in;

layout(constant_id = 3) const uint MAXM = 1;  // activation rows the recording serves

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Q { uint q[]; };

layout(push_constant) uniform Push {  // LinearPush of graph/vulkan/linear.cpp (R, row_base, out_scale unused)
  uint R;
  uint K;
  uint x_stride;
  uint y_stride;
  uint scale_cols;
  uint row_base;
  float out_scale;
} pc;

shared float amax[64];

void main() {
  const uint t = gl_LocalInvocationID.x, b = gl_WorkGroupID.x, v = gl_WorkGroupID.y;
  const uint groups = pc.x_stride / pc.K;
  const uint m = v / groups, g = v % groups;
  if (m >= min(step.n_rows, MAXM)) return;  // uniform over the workgroup
  const uint k = b * 128u + 2u * t;
  const uint xi = m * pc.x_stride + g * pc.K + k;
  const bool live = k < pc.K;  // K % 16 == 0: k < K implies k + 1 < K
  const float v0 = live ? x[xi] : 0.0, v1 = live ? x[xi + 1u] : 0.0;
  amax[t] = max(abs(v0), abs(v1));
  barrier();
  for (uint s = 32u; s > 0u; s >>= 1) {
    if (t < s) amax[t] = max(amax[t], amax[t + s]);
    barrier();
  }
  const int e = fp8_scale_exponent(amax[0]);
  const uint qs = (pc.K / 2u + pc.scale_cols + 3u) & ~3u;
  if (live) q[v * qs + k / 2u] = packHalf2x16(vec2(e4m3_round(ldexp(v0, -e)), e4m3_round(ldexp(v1, -e))));
  if (t == 0u) q[v * qs + pc.K / 2u + b] = uint(e);
}
