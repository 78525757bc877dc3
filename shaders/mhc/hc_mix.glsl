// The part hc_pre and hc_head share (graph::hc_mixes, model-spec §3.3): one workgroup per token,
// r = 1/sqrt(mean(X^2) + norm_eps) over the flattened streams X [hc*D] (pairwise, as
// graph::mean_of_squares), and the M mixes m_o = (fn_o . X) * r, each dot summed in order within
// blocks of 512 and then block by block (graph/mhc.cpp k_blocked_dot), so the logits that reach
// the sigmoids and Sinkhorn are the reference's bit for bit.
//
// Bindings 0 step, 1 streams [max_rows, hc*D], 2 fn [M, hc*D] fp32, 3 scale, 4 base [M].
// With HC_MIX_PARTIALS_BINDING defined, the per-block dots come precomputed from that binding
// ([max_rows, M, blocks], shaders/mhc/hc_mix_partials.comp, the same sums) and fn is not read;
// so do the node sums of squares, unless HC_MIX_OWN_SQUARES (hc_post_pre.comp: the workgroup sums
// all hc*D squares itself).
#ifndef DSV4_HC_MIX_GLSL
#define DSV4_HC_MIX_GLSL
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "quant.glsl"
#include "ff_math.glsl"

layout(local_size_x = 256) in;
#ifndef HC_STREAMS_QUALIFIER
#define HC_STREAMS_QUALIFIER readonly
#endif
layout(std430, binding = 1) HC_STREAMS_QUALIFIER buffer Streams { float xs[]; };
layout(std430, binding = 2) readonly buffer Fn { float fn[]; };
layout(std430, binding = 3) readonly buffer Scale { float hc_scale[]; };
layout(std430, binding = 4) readonly buffer Base { float hc_base[]; };
layout(push_constant) uniform P {
  uint dim;         // D
  uint hc;          // streams (<= HC_MAX)
  uint depth;       // pairwise tree depth of hc*D
  float inv_width;  // fp32(1/(hc*D))
  float norm_eps;
  float hc_eps;
  uint sinkhorn_iters;
  uint y_depth;     // hc_pre's fused RMSNorm of y (HC_NORM_BINDINGS): pairwise depth of D,
  float y_inv_dim;  // fp32(1/D)
  float y_eps;      // and its eps
  uint nodes;       // HC_MIX_PARTIALS_BINDING: node sums of squares (hc_mix_partials.comp), 2^k
  uint node_base;   // and where they start in the partials buffer
  uint topk;        // hc_post_pre.comp with COMBINE: routed experts per row
  uint node_depth;  // hc_post_pre.comp without TAIL: pairwise depth of a 512-block
} p;

const uint HC_MAX = 4u;
const uint MIX_MAX = (2u + HC_MAX) * HC_MAX;
const uint BLOCK_K = 512u;
const uint BLOCKS_MAX = 64u;  // hc*D <= 32768 (pairwise.glsl's limit too)

uint row_base, y_base;
bool pw_from_y = false;  // the pairwise sum runs over y[y_base..] (fused RMSNorm) instead of the streams
#define HC_MIX_TERM(i) (pw_from_y ? y[y_base + (i)] * y[y_base + (i)] : xs[row_base + (i)] * xs[row_base + (i)])
#ifndef PAIRWISE_TERM  // hc_post_pre_main.glsl adds a block in shared memory as a third case
#define PAIRWISE_TERM(i) HC_MIX_TERM(i)
#endif
#include "../norm/pairwise.glsl"

#ifdef HC_MIX_PARTIALS_BINDING
#ifndef HC_PARTIALS_QUALIFIER
#define HC_PARTIALS_QUALIFIER readonly
#endif
layout(std430, binding = HC_MIX_PARTIALS_BINDING) HC_PARTIALS_QUALIFIER buffer Partials { float partials[]; };
#endif
#ifndef HC_MIX_PARTIAL_ARRAY  // a kernel short of shared memory may lend another array (>= 1536 floats)
shared float mix_partial[MIX_MAX * BLOCKS_MAX];
#else
#define mix_partial HC_MIX_PARTIAL_ARRAY
#endif
shared float mixes[MIX_MAX];

// mixes[0..outputs) for the streams of `row` (all invocations call it; ends with a barrier).
void compute_mixes(uint row, uint outputs) {
  const uint width = p.hc * p.dim;
  row_base = row * width;
#if defined(HC_MIX_PARTIALS_BINDING) && !defined(HC_MIX_OWN_SQUARES)
  // The tree above the nodes: node k of a level is the sum of nodes 2k and 2k + 1 below it.
  barrier();  // pw_tree may still be read by an earlier sum
  if (gl_LocalInvocationID.x < p.nodes) pw_tree[gl_LocalInvocationID.x] = partials[p.node_base + row * p.nodes + gl_LocalInvocationID.x];
  const float sum = pw_tree_sum(p.nodes, gl_LocalInvocationID.x, 0u);
#else
  const float sum = pairwise_sum_wg(width, p.depth);
#endif
  precise float ms = sum * p.inv_width;
  precise float shifted = ms + p.norm_eps;
  const float r = div_rn(1.0, sqrt_rn(shifted));
  const uint blocks = (width + BLOCK_K - 1u) / BLOCK_K;
#ifdef HC_MIX_PARTIALS_BINDING
  // One coalesced copy into shared memory: summing straight from the buffer would cost each of
  // the `outputs` summing invocations one memory latency per block.
  // All of an invocation's loads (<= MIX_MAX * BLOCKS_MAX / 256 = 6) are issued before any store.
  const uint first = row * outputs * blocks, count = outputs * blocks;
  const uint PER = (MIX_MAX * BLOCKS_MAX + 255u) / 256u;
  float part[PER];
  for (uint k = 0u; k < PER; ++k) {
    const uint idx = gl_LocalInvocationID.x + 256u * k;
    part[k] = idx < count ? partials[first + idx] : 0.0;
  }
  for (uint k = 0u; k < PER; ++k) {
    const uint idx = gl_LocalInvocationID.x + 256u * k;
    if (idx < count) mix_partial[idx] = part[k];
  }
  barrier();
#else
  for (uint idx = gl_LocalInvocationID.x; idx < outputs * blocks; idx += 256u) {
    const uint o = idx / blocks, b = idx % blocks;
    const uint end = min(width, (b + 1u) * BLOCK_K);
    precise float part = 0.0;
    for (uint i = b * BLOCK_K; i < end; ++i) part += fn[o * width + i] * xs[row_base + i];
    mix_partial[idx] = part;
  }
  barrier();
#endif
  if (gl_LocalInvocationID.x < outputs) {
    const uint o = gl_LocalInvocationID.x;
    precise float acc = 0.0;
    for (uint b = 0u; b < blocks; ++b) acc += mix_partial[o * blocks + b];
    precise float m = acc * r;
    mixes[o] = m;
  }
  barrier();
}

// y[c] = bf16(sum_i w_i X_i[c]) for the streams at row_base. COLS columns per pass, with all
// their stream loads issued before the sums (one memory latency per pass, not per load).
const uint COLLAPSE_COLS = 8u;
void collapse(float w[HC_MAX], uint y_base) {
  for (uint c0 = gl_LocalInvocationID.x; c0 < p.dim; c0 += 256u * COLLAPSE_COLS) {
    float xv[COLLAPSE_COLS][HC_MAX];
    for (uint k = 0u; k < COLLAPSE_COLS; ++k) {
      const uint c = c0 + 256u * k;
      for (uint i = 0u; i < HC_MAX; ++i) xv[k][i] = c < p.dim && i < p.hc ? xs[row_base + i * p.dim + c] : 0.0;
    }
    for (uint k = 0u; k < COLLAPSE_COLS; ++k) {
      const uint c = c0 + 256u * k;
      precise float acc = 0.0;
      for (uint i = 0u; i < p.hc; ++i) acc += w[i] * xv[k][i];
      if (c < p.dim) y[y_base + c] = round_bf16(acc);
    }
  }
}

float logit(uint o, uint s) {
  precise float v = mixes[o] * hc_scale[s] + hc_base[o];
  return v;
}

#endif  // DSV4_HC_MIX_GLSL
