#version 450
// Sparse attention with the attention sink (model-spec §3.5.8; graph/attention.cpp) over the keys
// of attention_keys.glsl. K = V; one KV head shared by all query heads.
//
// Two passes over the keys (spec constant PASS) so that, as in the reference, every probability is
// exp(s - m) with m the row's GLOBAL max and is rounded to bf16 before P.V (an online softmax
// would round exp(s - m_partial), which the reference never does):
//   PASS 0: scores of the split's keys -> max_part[row][head][split]
//   PASS 1: m = max over splits; p = bf16(exp(s - m)); acc = sum p k, den = sum exp(s - m).
//           One split: finish here (den += exp(sink - m), bf16(acc / den), inverse RoPE -> o).
//           Several: write acc_part / den_part; attn_merge finishes.
// This is the prefill path (and any step recorded without kept scores); decode keeps its scores
// and runs decode_scores.comp and decode_pv.comp instead.
// The keys of a row are split over n_splits workgroups (flash-decoding: decode rows get
// parallelism over keys) by attention_keys.glsl split_chunk(), whose 8-key steps are KT tiles.
// Splits past the last used one write max_part = -inf and nothing else (attn_merge skips them). A workgroup serves HG heads, so
// each key it loads is used HG times. PASS 1 reduces the maxima over all threads (subgroupMax),
// not in one thread's serial loop.
// Thread t owns dims 4t..4t+3 (head_dim <= 512, a multiple of 4): it keeps those dims of the HG
// query heads and of their P.V sums in registers and loads only those dims of each key (one word
// of e4m3 codes, or two of bf16). Dot products are reduced over threads with subgroupAdd and then
// across subgroups through shared memory, so any subgroup size >= 4 works.
// Grid: (n_splits, ceil(n_heads / HG), max_rows); 128 threads.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(constant_id = 0) const uint PASS = 0;
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 2) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 3) readonly buffer KV { vec4 kv4[]; };
layout(std430, set = 0, binding = 4) readonly buffer Ring { uint ring[]; };
layout(std430, set = 0, binding = 5) readonly buffer Compressed { uint compressed[]; };
layout(std430, set = 0, binding = 6) readonly buffer IndexSel { int index_sel[]; };
layout(std430, set = 0, binding = 7) readonly buffer Sink { float attn_sink[]; };
layout(std430, set = 0, binding = 8) buffer MaxPart { float max_part[]; };
layout(std430, set = 0, binding = 9) buffer AccPart { vec4 acc_part4[]; };
layout(std430, set = 0, binding = 10) buffer DenPart { float den_part[]; };
layout(std430, set = 0, binding = 11) buffer Out { vec4 o4[]; };

layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, window;
  uint ratio, entries_per_seq, index_topk, n_splits;
  uint rope_slot;
  float scale;
  uint max_keys;  // decode only (decode_scores.comp, decode_pv.comp)
} pc;

const uint THREADS = 128;
const uint HG = 8;        // heads per workgroup
const uint KT = 8;        // keys per tile
const uint SLOTS = HG * KT;
const uint MAX_SUBGROUPS = 32;
const float NEG_INF = -1.0 / 0.0;

shared float red[MAX_SUBGROUPS * SLOTS];
shared float p_sh[SLOTS];
shared float m_sh[HG];

#include "attention_keys.glsl"
#include "attention_output.glsl"

void main() {
  const uint split = gl_WorkGroupID.x, h0 = gl_WorkGroupID.y * HG, row = gl_WorkGroupID.z;
  const uint t = gl_LocalInvocationID.x, d0 = 4u * t;
  if (row >= step.n_rows) return;
  const uint n_active = min(HG, pc.n_heads - h0);
  const uint nk = n_keys(row);
  const uint chunk = split_chunk(nk);
  const uint used = (nk + chunk - 1u) / chunk;
  if (split >= used) {  // uniform: the whole workgroup leaves
    if (PASS == 0u && t < n_active) max_part[(row * pc.n_heads + h0 + t) * pc.n_splits + split] = NEG_INF;
    return;
  }
  const uint j_begin = min(nk, split * chunk), j_end = min(nk, j_begin + chunk);
  const uint words = kv_entry_bytes(pc.head_dim - pc.rope_dim, pc.rope_dim) / 4u;
  const bool owns_dims = d0 < pc.head_dim;

  vec4 qv[HG], acc[HG];
  for (uint h = 0u; h < HG; ++h) {
    qv[h] = owns_dims && h < n_active ? q4[((row * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] : vec4(0.0);
    acc[h] = vec4(0.0);
  }
  if (PASS == 1u) {  // m of each head: max over the used splits, spread over all threads
    for (uint h = 0u; h < HG; ++h) {
      float m = NEG_INF;
      if (h < n_active)
        for (uint s = t; s < used; s += THREADS) m = max(m, max_part[(row * pc.n_heads + h0 + h) * pc.n_splits + s]);
      m = subgroupMax(m);
      if (subgroupElect()) red[gl_SubgroupID * HG + h] = m;
    }
    barrier();
    if (t < n_active) {
      float m = NEG_INF;
      for (uint g = 0u; g < gl_NumSubgroups; ++g) m = max(m, red[g * HG + t]);
      m_sh[t] = m;
    }
  }
  barrier();  // m_sh ready; red free for the tiles

  // Thread t < SLOTS also owns score slot (head t / KT, key t % KT) of every tile.
  const uint slot_h = t / KT, slot_k = t % KT;
  float m_run = NEG_INF, den = 0.0;
  for (uint j0 = j_begin; j0 < j_end; j0 += KT) {
    vec4 kv[KT];
    bool valid[KT];
    for (uint k = 0u; k < KT; ++k) {
      uint at = 0u;
      const uint kind = j0 + k < j_end ? describe_key(row, j0 + k, at) : KEY_NONE;
      valid[k] = kind != KEY_NONE;
      kv[k] = load_key(kind, at, d0, words);
    }
    for (uint h = 0u; h < HG; ++h)
      for (uint k = 0u; k < KT; ++k) {
        const float s = subgroupAdd(dot(qv[h], kv[k]));
        if (subgroupElect()) red[gl_SubgroupID * SLOTS + h * KT + k] = s;
      }
    barrier();  // red ready; every thread is done with the previous tile's p_sh
    if (t < SLOTS) {
      float s = 0.0;
      for (uint g = 0u; g < gl_NumSubgroups; ++g) s += red[g * SLOTS + t];
      s = slot_h < n_active && valid[slot_k] ? s * pc.scale : NEG_INF;
      if (PASS == 0u) {
        m_run = max(m_run, s);
      } else {
        const float e = s == NEG_INF ? 0.0 : exp(s - m_sh[slot_h]);
        den += e;
        p_sh[t] = round_bf16(e);
      }
    }
    barrier();  // p_sh ready; red free for the next tile
    if (PASS == 1u)
      for (uint h = 0u; h < HG; ++h)
        for (uint k = 0u; k < KT; ++k) acc[h] += p_sh[h * KT + k] * kv[k];
  }

  // Per-head reductions over the KT key slots (fixed order).
  if (t < SLOTS) red[t] = PASS == 0u ? m_run : den;
  barrier();
  if (PASS == 0u) {
    if (t < n_active) {
      float m = NEG_INF;
      for (uint k = 0u; k < KT; ++k) m = max(m, red[t * KT + k]);
      max_part[(row * pc.n_heads + h0 + t) * pc.n_splits + split] = m;
    }
    return;
  }
  if (t < n_active) {
    float den_h = 0.0;
    for (uint k = 0u; k < KT; ++k) den_h += red[t * KT + k];
    if (pc.n_splits > 1u) den_part[(row * pc.n_splits + split) * pc.n_heads + h0 + t] = den_h;
    else p_sh[t] = den_h + exp(attn_sink[h0 + t] - m_sh[t]);  // the full denominator
  }
  barrier();
  if (!owns_dims) return;
  for (uint h = 0u; h < n_active; ++h) {
    if (pc.n_splits > 1u) {
      acc_part4[(((row * pc.n_splits + split) * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] = acc[h];
      continue;
    }
    o4[((row * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] = attention_output(acc[h], p_sh[h], row, d0);
  }
}
