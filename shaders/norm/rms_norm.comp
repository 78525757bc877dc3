#version 450
// graph::rms_norm on each row: y = bf16(w * (x * (1 / sqrt(mean(x^2) + eps)))), the mean a
// pairwise sum times fp32(1/D) exactly as the reference orders it, sqrt and division correctly
// rounded. One workgroup per row; `rows_per_step_row` rows belong to each step row (e.g. hc
// streams), rows of step rows >= n_rows are skipped.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "quant.glsl"
#include "../mhc/ff_math.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer W { uint w_bf16[]; };  // bf16 [D], two per word
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint dim;
  uint depth;             // pairwise tree depth of dim (graph/vulkan/norms.cpp)
  float inv_dim;          // fp32(1/dim) as the host computes it
  float eps;
  uint rows_per_step_row;
} p;

uint row_base;
#define PAIRWISE_TERM(i) (x[row_base + (i)] * x[row_base + (i)])
#include "pairwise.glsl"

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row / p.rows_per_step_row >= step.n_rows) return;
  row_base = row * p.dim;
  const float sum = pairwise_sum_wg(p.dim, p.depth);
  precise float ms = sum * p.inv_dim;
  precise float shifted = ms + p.eps;
  const float r = div_rn(1.0, sqrt_rn(shifted));
  for (uint c = gl_LocalInvocationID.x; c < p.dim; c += 256u) {
    const float w = bf16_to_float(half_in_word(w_bf16[c >> 1], c));
    precise float v = w * (x[row_base + c] * r);
    y[row_base + c] = round_bf16(v);
  }
}
