#version 450
#extension GL_GOOGLE_include_directive : require
// MoE router selection (gate_common.glsl) over the logits gate_logits.comp wrote: one workgroup
// per step row. Bindings 1 and 2 (x, gate) are part of the layout but unused here.
layout(local_size_x = 256) in;
#define GATE_SELECT
#include "gate_common.glsl"

layout(std430, binding = 6) readonly buffer Logits { float logits[]; };  // [max_rows, E]

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  for (uint e = gl_LocalInvocationID.x; e < p.n_experts; e += SELECT_THREADS) score[e] = logits[row * p.n_experts + e];
  barrier();
  select_row(row);
}
