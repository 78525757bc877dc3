#version 450
#extension GL_GOOGLE_include_directive : require
// MoE router selection after gate_tiled.comp: one workgroup per step row reads the row's logits
// and runs gate_common.glsl's scores, selection and weights (the bits of gate.comp's select_row).
layout(local_size_x = 128) in;
#define GATE_SELECT
#define SELECT_THREADS 128u
#include "gate_common.glsl"

layout(std430, binding = 6) readonly buffer Logits { float logits[]; };  // [max_rows, E]

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  for (uint e = gl_LocalInvocationID.x; e < p.n_experts; e += SELECT_THREADS) score[e] = logits[row * p.n_experts + e];
  barrier();
  select_row(row);
}
