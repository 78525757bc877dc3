// graph::hc_head's kernel body, shared by hc_head.comp (mixes computed here) and
// hc_head_split.comp (per-block dots from hc_mix_partials.comp). Include after #version and the
// include extension.
// graph::hc_head for the rows that end their sequence in this step (row n_rows-1, or the next
// row belongs to another sequence slot): pre_i = sigmoid(m_i scale_0 + base_i) + hc_eps over the
// hc mixes (one invocation each), y[row] = bf16(sum_i pre_i X_i). Other rows of y are not written.
layout(std430, binding = 5) coherent buffer Y { float y[]; };  // [max_rows, D]
#include "hc_mix.glsl"

shared float pre_w[HC_MAX];

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  if (row + 1u < step.n_rows && step.rows[row + 1u].seq == step.rows[row].seq) return;
  const uint n = p.hc, t = gl_LocalInvocationID.x;
  compute_mixes(row, n);
  if (t < n) {
    precise float pre = sigmoid_rn(logit(t, 0u)) + p.hc_eps;
    pre_w[t] = pre;
  }
  barrier();
  float w[HC_MAX];
  for (uint i = 0u; i < HC_MAX; ++i) w[i] = i < n ? pre_w[i] : 0.0;
  collapse(w, row * p.dim);
}
