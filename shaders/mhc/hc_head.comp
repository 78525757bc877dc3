#version 450
// graph::hc_head for the rows that end their sequence in this step (row n_rows-1, or the next
// row belongs to another sequence slot): pre_i = sigmoid(m_i scale_0 + base_i) + hc_eps over the
// hc mixes, y[row] = bf16(sum_i pre_i X_i). Other rows of y are not written.
#extension GL_GOOGLE_include_directive : require
layout(std430, binding = 5) writeonly buffer Y { float y[]; };  // [max_rows, D]
#include "hc_mix.glsl"

shared float pre_w[HC_MAX];

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  if (row + 1u < step.n_rows && step.rows[row + 1u].seq == step.rows[row].seq) return;
  const uint n = p.hc;
  compute_mixes(row, n);
  if (gl_LocalInvocationID.x == 0u) {
    for (uint i = 0u; i < n; ++i) {
      precise float pre = sigmoid_rn(logit(i, 0u)) + p.hc_eps;
      pre_w[i] = pre;
    }
  }
  barrier();
  float w[HC_MAX];
  for (uint i = 0u; i < HC_MAX; ++i) w[i] = i < n ? pre_w[i] : 0.0;
  collapse(w, row * p.dim);
}
