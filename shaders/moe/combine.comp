#version 450
#extension GL_GOOGLE_include_directive : require
// MoE combine (combine.glsl) into its own output, one thread per output value: the path of steps
// whose FFN output is not consumed by hc_post (tests, encode_moe with combine on).
layout(local_size_x = 256) in;

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) readonly buffer Part { float part[]; };  // [rows, k+1, dim]
layout(std430, binding = 3) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform Params { uint dim, topk; } p;

#include "combine.glsl"

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint d = gl_GlobalInvocationID.x;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  moe_combine_order(row, p.topk);
  if (d >= p.dim) return;
  outv[row * p.dim + d] = moe_combine(row, d, p.dim, p.topk);
}
