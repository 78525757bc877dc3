// The MoE router (model-spec §3.6; oracle graph::route), shared by shaders/moe/gate.comp (one
// workgroup per row does everything) and gate_logits.comp (the logits and scores spread over E/4
// workgroups per row, the last of them to finish selecting):
//  - logit_e = x . gate_e, a sequential fp32 dot like graph::linear_fp32 (16-byte reads of the
//    bf16 row), bit-exact with the reference: every product and sum is `precise`.
//  - score_e = sqrt(softplus(logit_e)) correctly rounded (graph::sqrt_softplus, evaluated in
//    double) via float-float arithmetic: GPU exp/log/sqrt/division are approximate.
//  - top-k of score + bias (ties -> lower id, graph::topk_indices) or tid2eid[token] on hash
//    layers; weights score / sum * route_scale with the sum in selection order.
// Output per row: k int32 expert ids (in selection order) then k fp32 weights.
//
// Bindings 0 step; with GATE_DOTS 1 x fp32 [max_rows, D] (D % 8 == 0), 2 gate bf16 [E, D]; with
// GATE_SELECT 3 bias f32 [E], 4 tid2eid int32 [vocab, k], 5 route. gate_logits.comp's workgroups
// pass the scores through its binding 6.
#ifndef DSV4_GATE_COMMON_GLSL
#define DSV4_GATE_COMMON_GLSL
#extension GL_GOOGLE_include_directive : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "../mhc/ff_math.glsl"

#if !defined(GATE_DOTS) && !defined(GATE_SELECT)
#error "define GATE_DOTS and/or GATE_SELECT before including gate_common.glsl"
#endif

layout(push_constant) uniform Params {
  uint dim, n_experts, topk, hash_layer;
  float route_scale;
} p;

#ifdef GATE_DOTS
layout(std430, binding = 1) readonly buffer X { vec4 x4[]; };         // D % 8 == 0
layout(std430, binding = 2) readonly buffer Gate { uvec4 gate8[]; };  // 8 bf16 per element

// x[row] . gate[e] summed in element order, one product at a time (graph::linear_fp32's
// sequential dot, which reproduces the reference's fp32 GEMM on the tiny-a fixture: a parallel
// order, e.g. 32 lanes + a tree, moves its logits by median 2.4%). `precise`: no fused
// multiply-add. One invocation per (row, expert); x reads are uniform across the invocations.
float expert_logit(uint row, uint e) {
  const uint chunks = p.dim / 8u;
  const uint xb = row * (p.dim / 4u), wb = e * chunks;
  precise float acc = 0.0;
  for (uint c = 0u; c < chunks; ++c) {
    const uvec4 g = gate8[wb + c];
    const vec4 a = x4[xb + 2u * c], b = x4[xb + 2u * c + 1u];
    acc += a.x * bf16_to_float(g.x);
    acc += a.y * bf16_to_float(g.x >> 16);
    acc += a.z * bf16_to_float(g.y);
    acc += a.w * bf16_to_float(g.y >> 16);
    acc += b.x * bf16_to_float(g.z);
    acc += b.y * bf16_to_float(g.z >> 16);
    acc += b.z * bf16_to_float(g.w);
    acc += b.w * bf16_to_float(g.w >> 16);
  }
  return acc;
}

#endif  // GATE_DOTS

#ifdef GATE_SELECT
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(std430, binding = 4) readonly buffer Tid2eid { int tid2eid[]; };
layout(std430, binding = 5) writeonly buffer Route { uint route[]; };

// ---- sqrt(softplus) correctly rounded -------------------------------------------------------

// 1/n for odd n = 1..31 as float-float pairs.
const float INV_ODD_HI[16] = float[16](
    1.000000000e+00, 3.333333433e-01, 2.000000030e-01, 1.428571492e-01, 1.111111119e-01, 9.090909362e-02,
    7.692307979e-02, 6.666667014e-02, 5.882352963e-02, 5.263157934e-02, 4.761904851e-02, 4.347826168e-02,
    3.999999911e-02, 3.703703731e-02, 3.448275849e-02, 3.225806355e-02);
const float INV_ODD_LO[16] = float[16](
    0.0, -9.934107759e-09, -2.980232283e-09, -6.386212004e-09, -8.278422947e-10, -2.709302116e-09,
    -2.865607973e-09, -3.476937627e-09, -2.191347243e-10, -3.921358238e-10, -8.869738832e-10,
    -8.098456905e-10, 8.940696516e-10, -2.759474316e-10, 1.284582857e-10, 9.613652097e-10);

// log1p(e) for e in (0, 1] as 2 atanh(z), z = e / (2 + e) <= 1/3: the odd series to z^31
// (truncation < 2^-47 relative), all in float-float; no cancellation for small e.
vec2 ff_log1p_unit(vec2 e) {
  const vec2 z = ff_div(e, ff_add(vec2(2.0, 0.0), e));
  const vec2 z2 = ff_mul(z, z);
  vec2 s = vec2(INV_ODD_HI[15], INV_ODD_LO[15]);
  for (int i = 14; i >= 0; --i) s = ff_add(ff_mul(s, z2), vec2(INV_ODD_HI[i], INV_ODD_LO[i]));
  const vec2 r = ff_mul(z, s);
  precise vec2 twice = 2.0 * r;
  return twice;
}

// sqrt(s) of a float-float, rounded to fp32: one exact-residual correction of the approximate root.
float ff_sqrt_to_float(vec2 s) {
  const float r0 = sqrt(s.x);
  if (r0 == 0.0) return 0.0;
  const vec2 sq = ff_two_prod(r0, r0);
  precise float residual = ((s.x - sq.x) - sq.y) + s.y;
  precise float c = residual / (2.0 * r0);
  precise float r = r0 + c;
  return r;
}

// graph::sqrt_softplus: float(sqrt(softplus(v))) with torch's threshold (v > 20 -> v). Its
// float-float value is ~2^-44 relative, so the rounding matches the double reference but for
// true values within that of a halfway point (~2^-20 of scores).
float sqrt_softplus(float v) {
  if (v > 20.0) return ff_sqrt_to_float(vec2(v, 0.0));
  if (v < -160.0) return 0.0;
  // Below -40, log1p(e^v) = e^v (1 - e^v / 2 ...) and sqrt of it is e^(v/2) to 2^-59: the
  // float-float tail of e^v would be an fp32 denormal.
  if (v < -40.0) return ff_exp(0.5 * v).x;
  const vec2 l = ff_log1p_unit(ff_exp(-abs(v)));
  return ff_sqrt_to_float(v > 0.0 ? ff_add(vec2(v, 0.0), l) : l);
}

// ---- selection -------------------------------------------------------------------------------

const uint MAX_EXPERTS = 1024;
#ifndef SELECT_THREADS
#define SELECT_THREADS 256u  // the workgroup size of the kernel calling select_row
#endif
shared float score[MAX_EXPERTS];
shared float biased[MAX_EXPERTS];
shared int chosen[MAX_EXPERTS];

// With score[] holding row's scores: selection and the route words of `row`. Every invocation of
// a SELECT_THREADS-wide workgroup calls it.
void select_scored_row(uint row) {
  const uint t = gl_LocalInvocationID.x;
  if (p.hash_layer == 0u) {
    for (uint e = t; e < p.n_experts; e += SELECT_THREADS) {
      precise float b = score[e] + bias[e];
      biased[e] = b;
    }
  }
  barrier();
  if (p.hash_layer != 0u) {
    const int token = step.rows[row].token;
    for (uint j = t; j < p.topk; j += SELECT_THREADS) chosen[j] = tid2eid[uint(token) * p.topk + j];
  } else {
    // Rank of e in the order (biased desc, id asc): a strict total order, so ranks are distinct.
    for (uint e = t; e < p.n_experts; e += SELECT_THREADS) {
      const float b = biased[e];
      uint rank = 0u;
      for (uint o = 0u; o < p.n_experts; ++o) {
        const float c = biased[o];
        if (c > b || (c == b && o < e)) ++rank;
      }
      if (rank < p.topk) chosen[rank] = int(e);
    }
  }
  barrier();
  if (t == 0u) {
    precise float sum = 0.0;
    for (uint j = 0u; j < p.topk; ++j) sum += score[chosen[j]];
    const uint base = row * 2u * p.topk;
    for (uint j = 0u; j < p.topk; ++j) {
      route[base + j] = uint(chosen[j]);
      precise float w = div_rn(score[chosen[j]], sum) * p.route_scale;
      route[base + p.topk + j] = floatBitsToUint(w);
    }
  }
}

// With score[] holding row's logits: scores, selection and the route words of `row`.
void select_row(uint row) {
  for (uint e = gl_LocalInvocationID.x; e < p.n_experts; e += SELECT_THREADS) score[e] = sqrt_softplus(score[e]);
  barrier();
  select_scored_row(row);
}

#endif  // GATE_SELECT
#endif  // DSV4_GATE_COMMON_GLSL
