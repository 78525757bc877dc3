#version 450
// graph::hc_pre for each row < n_rows, one workgroup per row (design.md §6): the mixes
// (hc_mix.glsl), pre = sigmoid + hc_eps, post = 2 sigmoid, comb = Sinkhorn of the hc x hc logits in
// registers, then y = bf16(sum_i pre_i X_i). post and comb stay for hc_post.
#extension GL_GOOGLE_include_directive : require
layout(std430, binding = 5) writeonly buffer Y { float y[]; };          // [max_rows, D]
layout(std430, binding = 6) writeonly buffer Post { float post_out[]; };  // [max_rows, hc]
layout(std430, binding = 7) writeonly buffer Comb { float comb_out[]; };  // [max_rows, hc*hc]
#include "hc_mix.glsl"

shared float pre_w[HC_MAX];

// graph::sinkhorn: row softmax + eps, column normalise, then iters-1 x (rows, columns).
void sinkhorn(inout float c[HC_MAX * HC_MAX], uint n) {
  for (uint j = 0u; j < n; ++j) {
    float m = c[j * n];
    for (uint k = 1u; k < n; ++k) m = max(m, c[j * n + k]);
    precise float sum = 0.0;
    for (uint k = 0u; k < n; ++k) {
      precise float d = c[j * n + k] - m;
      c[j * n + k] = exp_rn(d);
      sum += c[j * n + k];
    }
    for (uint k = 0u; k < n; ++k) {
      precise float v = div_rn(c[j * n + k], sum) + p.hc_eps;
      c[j * n + k] = v;
    }
  }
  for (uint it = 0u; it < max(p.sinkhorn_iters, 1u); ++it) {  // the first column pass always runs
    if (it > 0u) {
      for (uint j = 0u; j < n; ++j) {
        precise float sum = 0.0;
        for (uint k = 0u; k < n; ++k) sum += c[j * n + k];
        precise float den = sum + p.hc_eps;
        for (uint k = 0u; k < n; ++k) c[j * n + k] = div_rn(c[j * n + k], den);
      }
    }
    for (uint k = 0u; k < n; ++k) {
      precise float sum = 0.0;
      for (uint j = 0u; j < n; ++j) sum += c[j * n + k];
      precise float den = sum + p.hc_eps;
      for (uint j = 0u; j < n; ++j) c[j * n + k] = div_rn(c[j * n + k], den);
    }
  }
}

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  const uint n = p.hc;
  compute_mixes(row, (2u + n) * n);
  if (gl_LocalInvocationID.x == 0u) {
    for (uint i = 0u; i < n; ++i) {
      precise float pre = sigmoid_rn(logit(i, 0u)) + p.hc_eps;
      precise float post = 2.0 * sigmoid_rn(logit(n + i, 1u));
      pre_w[i] = pre;
      post_out[row * n + i] = post;
    }
    float c[HC_MAX * HC_MAX];
    for (uint i = 0u; i < n * n; ++i) c[i] = logit(2u * n + i, 2u);
    sinkhorn(c, n);
    for (uint i = 0u; i < n * n; ++i) comb_out[row * n * n + i] = c[i];
  }
  barrier();
  float w[HC_MAX];
  for (uint i = 0u; i < HC_MAX; ++i) w[i] = i < n ? pre_w[i] : 0.0;
  collapse(w, row * p.dim);
}
