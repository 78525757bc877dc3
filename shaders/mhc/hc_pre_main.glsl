// graph::hc_pre's kernel body, shared by hc_pre.comp (mixes computed here) and hc_pre_split.comp
// (per-block dots from hc_mix_partials.comp). Include after #version and the include extension.
// graph::hc_pre for each row < n_rows, one workgroup per row (design.md §6): the mixes
// (hc_mix.glsl), pre = sigmoid + hc_eps, post = 2 sigmoid (one invocation each), comb = Sinkhorn
// of the hc x hc logits with one invocation per entry, then y = bf16(sum_i pre_i X_i). post and
// comb stay for hc_post.
// Y is read back by the fused RMSNorm (coherent: written by other invocations of the workgroup).
layout(std430, binding = 5) coherent buffer Y { float y[]; };          // [max_rows, D]
#ifndef HC_POST_COMB_QUALIFIER  // hc_post_pre.comp reads the previous post and comb first
#define HC_POST_COMB_QUALIFIER writeonly
#endif
layout(std430, binding = 6) HC_POST_COMB_QUALIFIER buffer Post { float post_out[]; };  // [max_rows, hc]
layout(std430, binding = 7) HC_POST_COMB_QUALIFIER buffer Comb { float comb_out[]; };  // [max_rows, hc*hc]
#ifdef HC_NORM_BINDINGS
#define PW_MAX_SLOTS 1024u  // the fused norm's tree over D <= 8192 (leaves of <= 8)
#define PW_HOIST 4u
#endif
#include "hc_mix.glsl"

shared float pre_w[HC_MAX];
shared float sk[2u * HC_MAX * HC_MAX];  // Sinkhorn's matrix, double-buffered

// One pass of graph::sinkhorn's normalise_rows (rows) or normalise_columns: every invocation
// e < n*n sums its row / column in the reference's order (each one the same sum) and divides its
// own entry. Reads sk[src..], writes sk[dst..]; all invocations call it (it ends with a barrier).
void sinkhorn_pass(uint n, uint src, uint dst, bool rows) {
  const uint e = gl_LocalInvocationID.x;
  if (e < n * n) {
    const uint j = e / n, k = e % n;
    precise float sum = 0.0;
    for (uint i = 0u; i < n; ++i) sum += sk[src + (rows ? j * n + i : i * n + k)];
    precise float den = sum + p.hc_eps;
    sk[dst + e] = div_rn(sk[src + e], den);
  }
  barrier();
}

// graph::sinkhorn on the logits in sk[0..n*n): row softmax + eps, column normalise, then
// iters-1 x (rows, columns). Returns the offset in sk of the result.
uint sinkhorn(uint n) {
  const uint e = gl_LocalInvocationID.x, nn = HC_MAX * HC_MAX;
  if (e < n * n) {
    const uint j = e / n;
    float m = sk[j * n];
    for (uint k = 1u; k < n; ++k) m = max(m, sk[j * n + k]);
    precise float d = sk[e] - m;
    sk[nn + e] = exp_rn(d);
  }
  barrier();
  if (e < n * n) {
    const uint j = e / n;
    precise float sum = 0.0;
    for (uint k = 0u; k < n; ++k) sum += sk[nn + j * n + k];
    precise float v = div_rn(sk[nn + e], sum) + p.hc_eps;
    sk[e] = v;
  }
  barrier();
  uint src = 0u;
  for (uint it = 0u; it < max(p.sinkhorn_iters, 1u); ++it) {  // the first column pass always runs
    if (it > 0u) {
      sinkhorn_pass(n, src, nn - src, true);
      src = nn - src;
    }
    sinkhorn_pass(n, src, nn - src, false);
    src = nn - src;
  }
  return src;
}

#ifdef HC_NORM_BINDINGS
// FUSED_NORM: the block's RMSNorm of y (attn_norm / ffn_norm, graph::rms_norm and
// shaders/norm/rms_norm.comp bit for bit) done here, saving its dispatch: norm_out = bf16(w * (y *
// (1 / sqrt(mean(y^2) + eps)))) with the same pairwise sum, once the whole y row is written.
layout(constant_id = 0) const bool FUSED_NORM = false;
layout(std430, binding = 9) readonly buffer NormW { uint norm_w[]; };    // bf16 [D], two per word
layout(std430, binding = 10) writeonly buffer NormOut { float norm_out[]; };  // [max_rows, D]

void fused_norm(uint row) {
  memoryBarrierBuffer();
  barrier();
  pw_from_y = true;
  y_base = row * p.dim;
  const float sum = pairwise_sum_wg(p.dim, p.y_depth);
  precise float ms = sum * p.y_inv_dim;
  precise float shifted = ms + p.y_eps;
  const float r = div_rn(1.0, sqrt_rn(shifted));
  // NORM_COLS columns per pass with all their loads issued first: a loop of single loads paid one
  // L2 round trip per 256 columns (~16 in a row for D = 4096).
  const uint NORM_COLS = 8u;
  for (uint c0 = gl_LocalInvocationID.x; c0 < p.dim; c0 += 256u * NORM_COLS) {
    float wv[NORM_COLS], yv[NORM_COLS];
    for (uint k = 0u; k < NORM_COLS; ++k) {
      const uint c = min(c0 + 256u * k, p.dim - 1u);
      wv[k] = bf16_to_float(half_in_word(norm_w[c >> 1], c));
      yv[k] = y[y_base + c];
    }
    for (uint k = 0u; k < NORM_COLS; ++k) {
      const uint c = c0 + 256u * k;
      precise float v = wv[k] * (yv[k] * r);
      if (c < p.dim) norm_out[y_base + c] = round_bf16(v);
    }
  }
}
#endif

#ifdef HC_SUBGROUP_SINKHORN
// graph::sinkhorn as sinkhorn() computes it (the same operations in the same order, so the same
// bits), run by one subgroup of >= n*n invocations: lane e holds entry e and reads the others of
// its row or column by subgroupShuffle, so the 40 passes need no workgroup barrier and the other
// subgroups collapse the streams meanwhile. Lanes >= n*n compute on a clamped copy and are
// ignored. Leaves the result in sk[0..n*n).
void sinkhorn_subgroup(uint n) {
  const uint e = min(gl_SubgroupInvocationID, n * n - 1u), j = e / n, k = e % n;
  float v = sk[e];
  float m = subgroupShuffle(v, j * n);
  for (uint c = 1u; c < n; ++c) m = max(m, subgroupShuffle(v, j * n + c));
  precise float d = v - m;
  const float ex = exp_rn(d);
  precise float sum = 0.0;
  for (uint c = 0u; c < n; ++c) sum += subgroupShuffle(ex, j * n + c);
  precise float first = div_rn(ex, sum) + p.hc_eps;
  v = first;
  for (uint it = 0u; it < max(p.sinkhorn_iters, 1u); ++it) {  // the first column pass always runs
    if (it > 0u) {
      precise float rs = 0.0;
      for (uint i = 0u; i < n; ++i) rs += subgroupShuffle(v, j * n + i);
      precise float rden = rs + p.hc_eps;
      v = div_rn(v, rden);
    }
    precise float cs = 0.0;
    for (uint i = 0u; i < n; ++i) cs += subgroupShuffle(v, i * n + k);
    precise float cden = cs + p.hc_eps;
    v = div_rn(v, cden);
  }
  if (gl_SubgroupInvocationID < n * n) sk[gl_SubgroupInvocationID] = v;
}
#endif

// hc_pre of one row by the whole workgroup: a collapser computes y (and its norm), a mixer post
// and comb (one workgroup may be both). Uniform per workgroup.
void hc_pre_row(uint row, bool collapser, bool mixer) {
  const uint n = p.hc, t = gl_LocalInvocationID.x;
  compute_mixes(row, (2u + n) * n);
  if (collapser && t < n) {
    precise float pre = sigmoid_rn(logit(t, 0u)) + p.hc_eps;
    pre_w[t] = pre;
  } else if (mixer && t >= n && t < 2u * n) {
    precise float post = 2.0 * sigmoid_rn(logit(t, 1u));
    post_out[row * n + t - n] = post;
  }
  if (mixer && t < n * n) sk[t] = logit(2u * n + t, 2u);
  barrier();
  float w[HC_MAX];
  for (uint i = 0u; i < HC_MAX; ++i) w[i] = i < n ? pre_w[i] : 0.0;
#ifdef HC_SUBGROUP_SINKHORN
  if (gl_SubgroupSize >= n * n) {  // uniform: the same for every subgroup
    if (mixer && gl_SubgroupID == 0u) sinkhorn_subgroup(n);
    if (collapser) collapse(w, row * p.dim);
#ifdef HC_NORM_BINDINGS
    if (collapser && FUSED_NORM) fused_norm(row);
#endif
    barrier();
    if (mixer && t < n * n) comb_out[row * n * n + t] = sk[t];
    return;
  }
#endif
  if (mixer) {
    const uint res = sinkhorn(n);
    if (t < n * n) comb_out[row * n * n + t] = sk[res + t];
  }
  if (collapser) {
    collapse(w, row * p.dim);
#ifdef HC_NORM_BINDINGS
    if (FUSED_NORM) fused_norm(row);
#endif
  }
}

#ifndef HC_PRE_NO_MAIN
void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
#ifdef HC_TWO_ROLES
  // Two workgroups per row, each computing the mixes: y = 0 collapses (and norms), y = 1 runs
  // post and Sinkhorn, so the collapse's latency chain no longer waits for Sinkhorn's 40 serial
  // passes. Uniform per workgroup, so the barriers in hc_pre_row stay in uniform control flow.
  hc_pre_row(row, gl_WorkGroupID.y == 0u, gl_WorkGroupID.y == 1u);
#else
  hc_pre_row(row, true, true);
#endif
}
#endif
