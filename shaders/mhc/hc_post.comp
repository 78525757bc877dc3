#version 450
// graph::hc_post in place on the streams of each row < n_rows:
// X'_k = bf16(post_k f + sum_j comb_jk X_j), the sum over j in order (as the reference). One
// invocation per (row, column) reads every X_j before writing any X'_k. With COMBINE (the FFN's
// hc_post), f is the MoE's combined output, computed here from the expert outputs (combine.glsl)
// instead of by a combine dispatch before.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "quant.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 1) readonly buffer F { float f[]; };        // [max_rows, D]
layout(std430, binding = 2) readonly buffer Post { float post[]; };  // [max_rows, hc]
layout(std430, binding = 3) readonly buffer Comb { float comb[]; };  // [max_rows, hc*hc]
layout(std430, binding = 4) buffer Streams { float xs[]; };          // [max_rows, hc, D]
layout(std430, binding = 5) readonly buffer Route { uint route[]; };  // COMBINE: the MoE's route
layout(std430, binding = 6) readonly buffer Part { float part[]; };   // COMBINE: [max_rows, k+1, D]
layout(push_constant) uniform P {
  uint dim;
  uint hc;
  uint topk;  // COMBINE: routed experts per row
} p;
layout(constant_id = 0) const bool COMBINE = false;

#include "../moe/combine.glsl"

const uint HC_MAX = 4u;

void main() {
  const uint row = gl_WorkGroupID.y, c = gl_GlobalInvocationID.x;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  if (COMBINE) moe_combine_order(row, p.topk);
  if (c >= p.dim) return;
  const uint n = p.hc, base = row * n * p.dim + c;
  float x[HC_MAX];
  for (uint j = 0u; j < n; ++j) x[j] = xs[base + j * p.dim];
  const float fc = COMBINE ? moe_combine(row, c, p.dim, p.topk) : f[row * p.dim + c];
  for (uint k = 0u; k < n; ++k) {
    precise float mixed = 0.0;
    for (uint j = 0u; j < n; ++j) mixed += comb[row * n * n + j * n + k] * x[j];
    precise float v = post[row * n + k] * fc + mixed;
    xs[base + k * p.dim] = round_bf16(v);
  }
}
