#version 450
#extension GL_GOOGLE_include_directive : require
// MoE router, one workgroup per step row (gate_common.glsl): an invocation per expert, then the
// row's scores are selected and weighed. For when encode_gate gets no logits scratch
// (gate_logits + gate_select spread the dots over many workgroups: far faster at decode).
layout(local_size_x = 256) in;
#define GATE_DOTS
#define GATE_SELECT
#include "gate_common.glsl"

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  for (uint e = gl_LocalInvocationID.x; e < p.n_experts; e += SELECT_THREADS) score[e] = expert_logit(row, e);
  barrier();
  select_row(row);
}
