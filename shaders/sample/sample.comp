#version 450
// Token sampling, one workgroup of 256 per row that ends its sequence in this step (the rows
// hc_head writes; other rows < n_rows get id -1). graph/sampling.cpp is the same algorithm in C++,
// operation for operation (the vocabulary in 256 fixed chunks, chunk sums in index order, then a
// fixed pairwise tree; exp from float-float add/mul only), so both pick the same token for the
// same (seed, seq, pos). Steps, with the parameters of the row's sequence slot:
//   value_i = logit_i, repetition-penalised if token i is in the slot's presence bitmap
//   greedy (temperature <= 0 or top_k == 1): argmax, lowest index on ties
//   v_i = value_i / T; w_i = exp(v_i - max v), 0 where w_i < min_p
//   top-k: keep v_i >= the k-th largest v (ties at the boundary all kept)
//   top-p: keep v_i >= the largest threshold whose kept mass >= top_p * mass (ties kept)
//   pick: the first kept token in index order whose running mass > u * kept mass,
//         u = sampling_uniform(seed, seq, pos)
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#define DSV4_STEP_WRITABLE
#include "step.glsl"
#include "../mhc/ff_math.glsl"
#include "sampling_common.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 1) readonly buffer Logits { float logits[]; };   // [max_rows, vocab]
layout(std430, binding = 2) readonly buffer Params { SamplerParams params[]; };  // [seqs]
layout(std430, binding = 3) readonly buffer Presence { uint presence[]; };  // [seqs, words_per_seq]
layout(std430, binding = 4) buffer Scratch { float wbuf[]; };               // [max_rows, vocab]
layout(std430, binding = 5) writeonly buffer Ids { int ids[]; };            // [max_rows]
layout(push_constant) uniform P {
  uint vocab;
  uint words_per_seq;
  uint write_step;  // 1: also step.rows[row].token = id (the next decode step's input)
} p;

const uint G = 256u;
shared float red_v[G];
shared uint red_i[G];
shared float chunk_sum[G];
shared float tree[G];
shared uint counter;
shared uint chosen;
shared float chosen_acc;

uint row, seq, lo, hi;
SamplerParams sp;

float value(uint i) {
  float l = logits[row * p.vocab + i];
  if (sp.repetition_penalty != 1.0 && ((presence[seq * p.words_per_seq + (i >> 5)] >> (i & 31u)) & 1u) != 0u)
    l = penalise(l, sp);
  return l;
}

// Argmax over the vocabulary, lowest index on ties (max is exact in any order).
uint argmax_all(out float best_v) {
  const uint t = gl_LocalInvocationID.x;
  float bv = -1.0 / 0.0;
  uint bi = 0xffffffffu;
  for (uint i = lo; i < hi; ++i) {
    const float v = value(i);
    if (v > bv || bi == 0xffffffffu) { bv = v; bi = i; }
  }
  red_v[t] = bv;
  red_i[t] = bi;
  for (uint s = G / 2u; s > 0u; s /= 2u) {
    barrier();
    if (t < s && better(red_v[t + s], red_i[t + s], red_v[t], red_i[t])) {
      red_v[t] = red_v[t + s];
      red_i[t] = red_i[t + s];
    }
  }
  barrier();
  best_v = red_v[0];
  const uint r = red_i[0];
  barrier();
  return r;
}

uint count_at_least(uint theta) {
  barrier();
  if (gl_LocalInvocationID.x == 0u) counter = 0u;
  barrier();
  uint c = 0u;
  for (uint i = lo; i < hi; ++i) c += order_key(value(i) * sp.inv_temperature) >= theta ? 1u : 0u;
  atomicAdd(counter, c);
  barrier();
  return counter;
}

// Kept mass of the tokens with key >= theta: chunk sums in index order, then the fixed tree.
float mass_at_least(uint theta) {
  const uint t = gl_LocalInvocationID.x;
  precise float acc = 0.0;
  for (uint i = lo; i < hi; ++i) {
    const float w = wbuf[row * p.vocab + i];
    if (w > 0.0 && order_key(value(i) * sp.inv_temperature) >= theta) acc += w;
  }
  barrier();
  chunk_sum[t] = acc;
  tree[t] = acc;
  for (uint s = G / 2u; s > 0u; s /= 2u) {
    barrier();
    if (t < s) {
      precise float v = tree[t] + tree[t + s];
      tree[t] = v;
    }
  }
  barrier();
  return tree[0];
}

void main() {
  row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  const uint t = gl_LocalInvocationID.x;
  if (row + 1u < step.n_rows && step.rows[row + 1u].seq == step.rows[row].seq) {
    if (t == 0u) ids[row] = -1;
    return;
  }
  seq = uint(step.rows[row].seq);
  sp = params[seq];
  const uint chunk = (p.vocab + G - 1u) / G;
  lo = min(p.vocab, t * chunk);
  hi = min(p.vocab, lo + chunk);

  float best_v;
  uint pick = argmax_all(best_v);
  if (!(sp.inv_temperature <= 0.0 || sp.top_k == 1)) {
    precise float vmax = best_v * sp.inv_temperature;
    for (uint i = lo; i < hi; ++i) {
      precise float d = value(i) * sp.inv_temperature - vmax;
      const float w = exp_rn(d);
      wbuf[row * p.vocab + i] = w >= sp.min_p ? w : 0.0;
    }
    uint theta = 0u;
    if (sp.top_k > 0 && uint(sp.top_k) < p.vocab) {  // the largest theta keeping >= k tokens
      uint a = 0u, b = 0xffffffffu;
      while (a < b) {
        const uint mid = a + (b - a) / 2u + ((b - a) & 1u);
        if (count_at_least(mid) >= uint(sp.top_k)) a = mid; else b = mid - 1u;
      }
      theta = a;
    }
    if (sp.top_p < 1.0) {  // the largest theta whose mass still reaches top_p of the whole
      precise float target = sp.top_p * mass_at_least(theta);
      uint a = theta, b = 0xffffffffu;
      while (a < b) {
        const uint mid = a + (b - a) / 2u + ((b - a) & 1u);
        const float m = mass_at_least(mid);
        if (m > 0.0 && m >= target) a = mid; else b = mid - 1u;
      }
      theta = a;
    }
    const float total = mass_at_least(theta);
    precise float target = sampling_uniform(sp.seed_lo, sp.seed_hi, seq, uint(step.rows[row].pos)) * total;
    if (t == 0u) {  // the chunk where the running mass passes the target (else the last non-empty)
      precise float acc = 0.0;
      uint c = 0xffffffffu;
      float c_acc = 0.0;
      for (uint k = 0u; k < G; ++k) {
        if (chunk_sum[k] > 0.0) { c = k; c_acc = acc; }
        precise float next = acc + chunk_sum[k];
        if (next > target && chunk_sum[k] > 0.0) break;
        acc = next;
      }
      chosen = c;
      chosen_acc = c_acc;
    }
    barrier();
    if (chosen == 0xffffffffu) {  // nothing kept (all weights underflowed): the argmax
      // pick stays
    } else if (t == chosen) {
      precise float acc = chosen_acc;
      uint last = lo;
      for (uint i = lo; i < hi; ++i) {
        const float w = wbuf[row * p.vocab + i];
        if (!(w > 0.0 && order_key(value(i) * sp.inv_temperature) >= theta)) continue;
        acc += w;
        last = i;
        if (acc > target) break;
      }
      pick = last;
    }
    if (chosen == 0xffffffffu ? t != 0u : t != chosen) return;
  } else if (t != 0u) {
    return;
  }
  ids[row] = int(pick);
  if (p.write_step != 0u) step.rows[row].token = int(pick);
}
