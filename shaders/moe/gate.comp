#version 450
#extension GL_GOOGLE_include_directive : require
// MoE router (model-spec §3.6), one workgroup per step row: scores = sqrt(softplus(x . gate^T)) in
// fp32 (each score a sequential dot like graph::linear_fp32, so scores match the reference bit for
// bit up to the transcendental functions), top-k of score + bias (ties -> lower expert id, the
// order of graph::topk_indices) or tid2eid[token] on hash layers, weights normalised x route_scale.
// Output per row: k int32 expert ids (in selection order) then k fp32 weights.
layout(local_size_x = 256) in;

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer Gate { uint gate_bf16[]; };  // [E, D] bf16, 2 per word
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(std430, binding = 4) readonly buffer Tid2eid { int tid2eid[]; };
layout(std430, binding = 5) writeonly buffer Route { uint route[]; };

layout(push_constant) uniform Params {
  uint dim, n_experts, topk, hash_layer;
  float route_scale;
} p;

const uint MAX_EXPERTS = 1024;
shared float score[MAX_EXPERTS];
shared float biased[MAX_EXPERTS];
shared int chosen[MAX_EXPERTS];

// exp with a Cody-Waite reduction and a degree-7 polynomial: ~1 ulp, where GLSL's exp may be a
// hardware approximation whose error grows with |v| (the weights must match to ~1e-6).
float exp_accurate(float v) {
  v = max(v, -150.0);  // exp underflows to 0 below; keeps k in int range
  precise float k = roundEven(v * 1.44269504);
  precise float r = (v - k * uintBitsToFloat(0x3f317200u)) - k * uintBitsToFloat(0x35bfbe8eu);
  precise float q = 1.0 / 5040.0;
  q = q * r + 1.0 / 720.0;
  q = q * r + 1.0 / 120.0;
  q = q * r + 1.0 / 24.0;
  q = q * r + 1.0 / 6.0;
  q = q * r + 0.5;
  q = q * r + 1.0;
  q = q * r + 1.0;
  return ldexp(q, int(k));
}

// log1p(e) for e in [0, 1] as 2 atanh(e / (2 + e)): no cancellation for small e.
float log1p_unit(float e) {
  precise float z = e / (2.0 + e);
  precise float z2 = z * z;
  precise float s = 1.0 / 17.0;
  for (int n = 15; n >= 1; n -= 2) s = s * z2 + 1.0 / float(n);
  return 2.0 * z * s;
}

// torch softplus (beta 1, threshold 20) as max(v, 0) + log1p(exp(-|v|)).
float softplus(float v) {
  if (v > 20.0) return v;
  precise float r = max(v, 0.0) + log1p_unit(exp_accurate(-abs(v)));
  return r;
}

float gate_dot(uint row, uint e) {
  precise float acc = 0.0;
  const uint xb = row * p.dim, wb = e * p.dim / 2u;
  for (uint w = 0u; w < p.dim / 2u; ++w) {
    const uint g = gate_bf16[wb + w];
    acc += x[xb + 2u * w] * bf16_to_float(g);
    acc += x[xb + 2u * w + 1u] * bf16_to_float(g >> 16);
  }
  return acc;
}

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  const uint t = gl_LocalInvocationID.x;
  for (uint e = t; e < p.n_experts; e += 256u) {
    const float s = sqrt(softplus(gate_dot(row, e)));
    score[e] = s;
    if (p.hash_layer == 0u) biased[e] = s + bias[e];
  }
  barrier();
  if (p.hash_layer != 0u) {
    const int token = step.rows[row].token;
    for (uint j = t; j < p.topk; j += 256u) chosen[j] = tid2eid[uint(token) * p.topk + j];
  } else {
    // Rank of e in the order (biased desc, id asc): a strict total order, so ranks are distinct.
    for (uint e = t; e < p.n_experts; e += 256u) {
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
      precise float w = score[chosen[j]] / sum * p.route_scale;
      route[base + p.topk + j] = floatBitsToUint(w);
    }
  }
}
