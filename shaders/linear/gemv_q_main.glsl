// FP8 GEMV with act_quant, the decode path of graph/vulkan/linear.cpp for every batch size:
// y[m, row] = bf16(sum_k q(x)[m, k] * w[row, k]) for m < n_rows. The activation rows come in blocks
// of MAXM (gl_WorkGroupID.x; the blocks of one weight tile are adjacent in dispatch order, so the
// tile is fetched from memory once and re-read from L2), each workgroup serving one block.
// The quantised activation q(x) is either built here in shared memory (FUSED: MAXM * K <= 8192,
// one dispatch per linear) or read through the caches from act_quant.comp's scratch.
//
// Batch-size independence: a row's result depends only on TPR (chosen from the weight's shape),
// never on MAXM, RPT, UNROLL, FUSED or the row's position in the batch: each thread sums its
// chunks in ascending order, the TPR partial sums meet in a fixed shared-memory tree (valid for
// every subgroup size) and both sources of q(x) hold the same bits (act_quant.comp's rounding).
//
// Workgroup: 256 threads = 256/TPR teams x TPR threads, team i owns weight rows RPT*i ..
// RPT*i+RPT-1 of the workgroup's; thread j of a team takes 16-element chunks j, j + TPR, ...,
// issuing UNROLL * RPT independent 16-byte weight loads before using any (the first ones before
// the quantisation, so its latency hides behind theirs). One activation chunk (converted once)
// serves RPT weight chunks. Numerics as gemv.comp: e4m3 weights become fp16 by a shift (value *
// 2^-8, exact), activations are unscaled e4m3 in fp16 (exact), and a chunk's partial sum is scaled
// by the block's weight scale * 2^(8 + e) (powers of two: the reference's products, summed in
// another order). gl_WorkGroupID.y is the group of a grouped linear (wo_a layout).
//
// Included after #version by gemv_q.comp and gemv_q_heads.comp (Q_HEADS: attention's wq_b in decode
// finishing the query heads itself, see q_heads_tail below).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256) in;

layout(constant_id = 2) const bool OUT_F32 = false;  // linear_common.glsl needs it; act_quant implies bf16
layout(constant_id = 1) const uint RPT = 1;          // weight rows per thread; RPT * MAXM <= 16
layout(constant_id = 3) const uint MAXM = 1;         // activation rows per block (<= 16)
layout(constant_id = 4) const uint TPR = 32;         // threads per weight row: a power of two <= 256
layout(constant_id = 5) const uint UNROLL = 2;       // chunks per row whose loads a thread issues before using any (<= 4)
layout(constant_id = 7) const bool SCALED = false;   // y = bf16(bf16(acc) * out_scale)
layout(constant_id = 8) const bool FUSED = false;    // quantise x here (binding 1 is x) instead of reading the scratch
layout(constant_id = 9) const bool NORM = false;     // FUSED: x is graph::rms_norm(x, binding 5) first (q_norm)

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, set = 0, binding = 1) readonly buffer Q4 { uvec4 q4[]; };  // scratch (not FUSED)
layout(std430, set = 0, binding = 1) readonly buffer Q1 { uint q1[]; };
layout(std430, set = 0, binding = 1) readonly buffer X4 { vec4 x4[]; };   // x (FUSED)
layout(std430, set = 0, binding = 2) readonly buffer W4 { uvec4 w4[]; };
layout(std430, set = 0, binding = 3) readonly buffer WS { float wscale[]; };
#ifdef Q_HEADS
layout(std430, set = 0, binding = 4) coherent buffer Y { float y[]; };  // the last workgroup of a head reads it
#else
layout(std430, set = 0, binding = 4) writeonly buffer Y { float y[]; };
#endif
layout(std430, set = 0, binding = 5) readonly buffer NW { uint norm_w[]; };  // NORM: bf16 [K], two per word
layout(std430, set = 0, binding = 1) readonly buffer X1 { float x1[]; };     // x (FUSED, NORM)

layout(push_constant) uniform Push {
  uint R;           // rows per group (all rows when groups == 1) in this dispatch
  uint K;           // columns of the weight (per group)
  uint x_stride;    // floats per activation row (groups * K)
  uint y_stride;    // floats per output row
  uint scale_cols;  // ceil(K / 128): FP8 scale row stride and exponents per scratch row
  uint row_base;    // first weight row of this dispatch (the w binding starts there)
  float out_scale;
  uint norm_depth;    // NORM: pairwise tree depth of K (graph/vulkan/norms.h)
  float norm_inv_dim; // NORM: fp32(1/K)
  float norm_eps;
#ifdef Q_HEADS
  uint n_heads, head_dim, rope_dim, rope_slot;  // q_heads.comp's
  float head_eps;
#endif
} pc;

const uint WG = 256u, TEAMS = WG / TPR;

// FUSED: the block's quantised x, [m][K/8] uvec4 of fp16 pairs; then (always) the reduction's
// RPT * MAXM <= 16 partial sums per thread.
shared uvec4 xs[1024];
shared int xe[64];        // FUSED: block exponents [m][K/128]
shared float camax[512];  // FUSED: per-chunk amax [m][K/16]

#include "linear_common.glsl"
#include "../mhc/ff_math.glsl"

// NORM: rms_norm.comp's arithmetic (pairwise sum of squares, correctly rounded sqrt and division,
// y = bf16(w * (x * r))) on the row the workgroup quantises, so q_norm needs no dispatch of its own.
uint pw_base;
#define PAIRWISE_TERM(i) (x1[pw_base + (i)] * x1[pw_base + (i)])
#define PW_MAX_SLOTS 1024u  // K <= 8192 (FUSED): depth <= 10
#include "../norm/pairwise.glsl"
float norm_r[MAXM];  // NORM: 1 / rms of each activation row of the block

void row_norms(uint m0, uint nm, uint g) {
  for (uint m = 0u; m < nm; ++m) {
    pw_base = (m0 + m) * pc.x_stride + g * pc.K;
    const float sum = pairwise_sum_wg(pc.K, pc.norm_depth);
    precise float ms = sum * pc.norm_inv_dim;
    precise float shifted = ms + pc.norm_eps;
    norm_r[m] = div_rn(1.0, sqrt_rn(shifted));
  }
}

// Four activations of row m at column c (of the group), normalised under NORM.
vec4 x_at(uint m, uint xb, uint c) {
  const vec4 v = x4[xb];
  if (!NORM) return v;
  const uint w0 = norm_w[c >> 1], w1 = norm_w[(c >> 1) + 1u];
  const vec4 w = vec4(bf16_to_float(w0 & 0xffffu), bf16_to_float(w0 >> 16), bf16_to_float(w1 & 0xffffu), bf16_to_float(w1 >> 16));
  const float r = norm_r[m];
  precise vec4 n = w * (v * r);
  return vec4(round_bf16(n.x), round_bf16(n.y), round_bf16(n.z), round_bf16(n.w));
}

// The partial dot of one 16-weight chunk (decoded: w) with its 16 activations (x), in units of
// 2^-8 * weight scale * 2^-e. Both sources of x go through this one expression. The weights are
// decoded once per chunk and the activations once per (chunk, activation row), not once per
// (weight row, activation row): at 8 activation rows the repeated decoding made the GEMV
// instruction-bound.
float chunk_sum(vec4 w[4], vec4 x[4]) { return (dot(w[0], x[0]) + dot(w[1], x[1])) + (dot(w[2], x[2]) + dot(w[3], x[3])); }

// FUSED: quantises activation rows m0 .. m0 + nm - 1 (group g's columns) into xs/xe exactly as
// act_quant.comp does (a block's amax is a max: any order gives the same exponent).
void quantise_x(uint m0, uint nm, uint g, uint t) {
  const uint nch = pc.K / 16u, nb = (pc.K + 127u) / 128u;
  if (NORM) row_norms(m0, nm, g);
  for (uint i = t; i < nm * nch; i += WG) {
    const uint m = i / nch, c = i % nch, xb = ((m0 + m) * pc.x_stride + g * pc.K + c * 16u) >> 2;
    const vec4 a = max(max(abs(x_at(m, xb, c * 16u)), abs(x_at(m, xb + 1u, c * 16u + 4u))),
                       max(abs(x_at(m, xb + 2u, c * 16u + 8u)), abs(x_at(m, xb + 3u, c * 16u + 12u))));
    camax[i] = max(max(a.x, a.y), max(a.z, a.w));
  }
  barrier();
  for (uint i = t; i < nm * nch; i += WG) {
    const uint m = i / nch, c = i % nch, b = c / 8u, xb = ((m0 + m) * pc.x_stride + g * pc.K + c * 16u) >> 2;
    float amax = 0.0;
    for (uint k = b * 8u; k < min(b * 8u + 8u, nch); ++k) amax = max(amax, camax[m * nch + k]);
    const int e = fp8_scale_exponent(amax);
    uint h[8];
    for (uint v = 0u; v < 4u; ++v) {
      const vec4 xv = x_at(m, xb + v, c * 16u + 4u * v);
      h[2u * v] = packHalf2x16(vec2(e4m3_round(ldexp(xv.x, -e)), e4m3_round(ldexp(xv.y, -e))));
      h[2u * v + 1u] = packHalf2x16(vec2(e4m3_round(ldexp(xv.z, -e)), e4m3_round(ldexp(xv.w, -e))));
    }
    xs[2u * i] = uvec4(h[0], h[1], h[2], h[3]);
    xs[2u * i + 1u] = uvec4(h[4], h[5], h[6], h[7]);
    if (c % 8u == 0u) xe[m * nb + b] = e;
  }
  barrier();
}

#ifdef Q_HEADS
// Q_HEADS (decode; graph/vulkan/linear.h QHeadsTail): the output rows are n_heads heads of
// head_dim, and each head is finished in place on y once all its rows are written, by the
// workgroup that holds it whole or else by the last of its workgroups to finish (a counter per
// activation-row block and head, binding 7, rewound after use): q_heads.comp's arithmetic
// (HEAD_MODE 0, attention's wq_b; q_head_math.glsl) or indexer/query.comp's (1, the indexer's
// wq_b; query_math.glsl), for every live activation row of the block. That dispatch and its level
// go. A head's sum of squares is one invocation's in-order chain, as in q_heads.comp.
layout(constant_id = 10) const uint HEAD_MODE = 0;
#define DSV4_ROPE_BINDING 6
#include "rope.glsl"
#include "../attention/q_head_math.glsl"
float staged(uint i) { return uintBitsToFloat(xs[i / 4u][i % 4u]); }
#define QM_GET(i) staged(i)
#define QM_SET(i, v) xs[(i) / 4u][(i) % 4u] = floatBitsToUint(v)
#define QM_MAX_BLOCKS 128u
#include "../indexer/query_math.glsl"
layout(std430, set = 0, binding = 7) coherent buffer Counters { uint counters[]; };
shared bool head_done;
shared float head_inv_rms[64];  // attention: one per staged head (<= 4096 / head_dim)

// Staged head k is head head0 + k % per_row of activation row m0 + k / per_row.
uint staged_row(uint m0, uint per_row, uint k) { return m0 + k / per_row; }
uint staged_at(uint m0, uint per_row, uint head0, uint k, uint d) {
  return staged_row(m0, per_row, k) * pc.y_stride + (head0 + k % per_row) * pc.head_dim + d;
}

void q_heads_tail(uint m0, uint nm, uint t) {
  const uint rows_wg = TEAMS * RPT, hd = pc.head_dim;
  const uint head0 = (pc.row_base + gl_WorkGroupID.z * rows_wg) / hd;
  // Heads this workgroup holds whole (per activation row): rows_wg / hd of them, or part of one.
  const uint per_row = rows_wg >= hd ? min(rows_wg / hd, pc.n_heads - head0) : 1u;
  memoryBarrierBuffer();  // this invocation's y values are visible before the workgroup goes on
  barrier();
  if (rows_wg < hd) {  // uniform: the head's last workgroup to finish goes on
    const uint counter = gl_WorkGroupID.x * pc.n_heads + head0;
    if (t == 0u) head_done = atomicAdd(counters[counter], 1u) == hd / rows_wg - 1u;
    barrier();
    if (!head_done) return;  // uniform over the workgroup
    if (t == 0u) counters[counter] = 0u;
    memoryBarrierBuffer();
  }
  // The n heads into shared memory (xs, free now; n * head_dim <= 4096, graph/vulkan/linear.cpp),
  // every load issued before the first store.
  const uint n = nm * per_row, PER_T = 4096u / WG;
  float v[PER_T];
  for (uint k = 0u; k < PER_T; ++k) {
    const uint i = t + WG * k;
    v[k] = i < n * hd ? y[staged_at(m0, per_row, head0, i / hd, i % hd)] : 0.0;
  }
  for (uint k = 0u; k < PER_T; ++k) {
    const uint i = t + WG * k;
    if (i < n * hd) QM_SET(i, v[k]);
  }
  barrier();
  if (HEAD_MODE == 0u) {
    if (t < n) {
      float sum = 0.0;
      for (uint i = 0u; i < hd; ++i) sum += qh_square(staged(t * hd + i));
      head_inv_rms[t] = qh_inv_rms(sum, hd, pc.head_eps);
    }
    barrier();
  } else {
    qm_rope(n, hd, pc.rope_dim, pc.rope_slot, m0, per_row, t, WG);
    qm_hadamard(n, hd, pc.head_eps, t, WG);  // head_eps carries 1 / sqrt(head_dim) here
    qm_fp4_exponents(n, hd, t, WG);
  }
  for (uint i4 = t; i4 < n * hd / 4u; i4 += WG) {
    const uint i = 4u * i4, h = i / hd, d = i % hd, at = staged_at(m0, per_row, head0, h, d);
    const vec4 x = vec4(staged(i), staged(i + 1u), staged(i + 2u), staged(i + 3u));
    vec4 o;
    if (HEAD_MODE == 0u) {
      o = qh_finish(x, head_inv_rms[h], d, staged_row(m0, per_row, h), hd, pc.rope_dim, pc.rope_slot);
    } else {
      for (uint c = 0u; c < 4u; ++c) o[c] = fp4_roundtrip(x[c], qm_block_exp[(i + c) / 32u]);
    }
    y[at] = o.x;
    y[at + 1u] = o.y;
    y[at + 2u] = o.z;
    y[at + 3u] = o.w;
  }
}
#endif

// The weight chunks c0, c0 + TPR, ... (UNROLL of them) of this thread's nr live rows from r0, and
// their blocks' scales (zeros past the row's end).
void load_weights(uint c0, uint g, uint r0, uint nr, uint nchunks, uint srow[RPT], out uvec4 wq[UNROLL][RPT],
                  out float ws[UNROLL][RPT]) {
  for (uint u = 0u; u < UNROLL; ++u) {
    const uint c = c0 + u * TPR;
    for (uint i = 0u; i < RPT; ++i) {
      const bool ok = c < nchunks && i < nr;
      wq[u][i] = ok ? w4[(g * pc.R + r0 + i) * nchunks + c] : uvec4(0u);
      ws[u][i] = ok ? wscale[srow[i] + c / 8u] : 0.0;
    }
  }
}

void main() {
  const uint t = gl_LocalInvocationID.x, team = t / TPR, j = t % TPR;
  const uint m0 = gl_WorkGroupID.x * MAXM, g = gl_WorkGroupID.y, r0 = (gl_WorkGroupID.z * TEAMS + team) * RPT;
  if (m0 >= step.n_rows) return;  // uniform over the workgroup: a block of dead activation rows
  const uint nm = min(step.n_rows - m0, MAXM);
  const uint groups = pc.x_stride / pc.K;
  const uint nchunks = pc.K / 16u, nb = (pc.K + 127u) / 128u;
  const uint qs = (pc.K / 2u + pc.scale_cols + 3u) & ~3u;  // scratch words per virtual row
  const uint nr = r0 < pc.R ? min(RPT, pc.R - r0) : 0u;    // live weight rows of this thread

  uint srow[RPT];
  for (uint i = 0u; i < RPT; ++i) srow[i] = ((pc.row_base + g * pc.R + r0 + i) / 128u) * pc.scale_cols;
  uvec4 wq[UNROLL][RPT];
  float ws[UNROLL][RPT];
  load_weights(j, g, r0, nr, nchunks, srow, wq, ws);
  if (FUSED) quantise_x(m0, nm, g, t);

  float acc[RPT][MAXM];
  for (uint i = 0u; i < RPT; ++i)
    for (uint m = 0u; m < MAXM; ++m) acc[i][m] = 0.0;

  if (nr > 0u) {
    for (uint c0 = j; c0 < nchunks; c0 += UNROLL * TPR) {
      if (c0 != j) load_weights(c0, g, r0, nr, nchunks, srow, wq, ws);
      for (uint u = 0u; u < UNROLL; ++u) {
        const uint c = c0 + u * TPR;
        if (c >= nchunks) break;
        vec4 wd[RPT][4];
        for (uint i = 0u; i < RPT; ++i)
          for (uint k = 0u; k < 4u; ++k) wd[i][k] = e4m3x4_scaled(wq[u][i][k]);
        for (uint m = 0u; m < MAXM; ++m) {
          if (m < nm) {
            uvec4 a, b;
            int e;
            if (FUSED) {
              a = xs[2u * (m * nchunks + c)];
              b = xs[2u * (m * nchunks + c) + 1u];
              e = 8 + xe[m * nb + c / 8u];
            } else {
              const uint base = ((m0 + m) * groups + g) * qs;
              a = q4[(base + c * 8u) >> 2];
              b = q4[((base + c * 8u) >> 2) + 1u];
              e = 8 + int(q1[base + pc.K / 2u + c / 8u]);
            }
            const vec4 xd[4] = vec4[4](vec4(unpackHalf2x16(a.x), unpackHalf2x16(a.y)), vec4(unpackHalf2x16(a.z), unpackHalf2x16(a.w)),
                                       vec4(unpackHalf2x16(b.x), unpackHalf2x16(b.y)), vec4(unpackHalf2x16(b.z), unpackHalf2x16(b.w)));
            for (uint i = 0u; i < RPT; ++i) acc[i][m] += scale_by_fast(chunk_sum(wd[i], xd), ws[u][i], e);
          }
        }
      }
    }
  }

  // The TPR partial sums of a row meet in a fixed tree (in xs, once every thread is done with it):
  // thread j adds j + s for s = TPR/2 .. 1.
  barrier();
  for (uint i = 0u; i < RPT; ++i)
    for (uint m = 0u; m < MAXM; ++m) {
      const uint k = (i * MAXM + m) * WG + t;
      xs[k / 4u][k % 4u] = floatBitsToUint(acc[i][m]);
    }
  barrier();
  for (uint s = TPR / 2u; s > 0u; s >>= 1) {
    if (j < s)
      for (uint k = 0u; k < RPT * MAXM; ++k) {
        const uint a = k * WG + t, b = a + s;
        xs[a / 4u][a % 4u] = floatBitsToUint(uintBitsToFloat(xs[a / 4u][a % 4u]) + uintBitsToFloat(xs[b / 4u][b % 4u]));
      }
    barrier();
  }
  if (j == 0u)
    for (uint i = 0u; i < nr; ++i)
      for (uint m = 0u; m < MAXM; ++m)
        if (m < nm) {
          const uint k = (i * MAXM + m) * WG + t;
          y[(m0 + m) * pc.y_stride + pc.row_base + g * pc.R + r0 + i] = finish_output(uintBitsToFloat(xs[k / 4u][k % 4u]), pc.out_scale);
        }
#ifdef Q_HEADS
  q_heads_tail(m0, nm, t);
#endif
}
