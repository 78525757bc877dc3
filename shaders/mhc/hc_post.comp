#version 450
// graph::hc_post in place on the streams of each row < n_rows:
// X'_k = bf16(post_k f + sum_j comb_jk X_j), the sum over j in order (as the reference). One
// invocation per (row, column) reads every X_j before writing any X'_k.
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
layout(push_constant) uniform P {
  uint dim;
  uint hc;
} p;

const uint HC_MAX = 4u;

void main() {
  const uint row = gl_WorkGroupID.y, c = gl_GlobalInvocationID.x;
  if (row >= step.n_rows || c >= p.dim) return;
  const uint n = p.hc, base = row * n * p.dim + c;
  float x[HC_MAX];
  for (uint j = 0u; j < n; ++j) x[j] = xs[base + j * p.dim];
  const float fc = f[row * p.dim + c];
  for (uint k = 0u; k < n; ++k) {
    precise float mixed = 0.0;
    for (uint j = 0u; j < n; ++j) mixed += comb[row * n * n + j * n + k] * x[j];
    precise float v = post[row * n + k] * fc + mixed;
    xs[base + k * p.dim] = round_bf16(v);
  }
}
