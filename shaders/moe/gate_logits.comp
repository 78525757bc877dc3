#version 450
#extension GL_GOOGLE_include_directive : require
// MoE router logits (gate_common.glsl's sequential dots), one invocation per expert and 32 experts
// per workgroup, so a decode row's dots run on E/32 compute units at once; groups (E/32,
// max_rows). gate_select.comp follows.
layout(local_size_x = 32) in;
#define GATE_DOTS
#include "gate_common.glsl"

layout(std430, binding = 3) writeonly buffer Logits { float logits[]; };  // [max_rows, E]

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint e = gl_WorkGroupID.x * 32u + gl_LocalInvocationID.x;
  if (row >= step.n_rows || e >= p.n_experts) return;
  logits[row * p.n_experts + e] = expert_logit(row, e);
}
