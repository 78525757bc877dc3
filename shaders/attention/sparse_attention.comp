#version 450
// Sparse attention with the attention sink (model-spec §3.5.8; graph/attention.cpp). Per row (a
// query at position p of sequence slot s) the keys are the window positions max(0,p-W+1)..p
// (positions before the row's chunk from the native ring, the others from this step's kv rows)
// then the compressed entries: the indexer's selection (ratio 4; -1 = none), or all c < (p+1)/ratio
// (ratio > 4), or none (ratio 0). K = V; one KV head shared by all query heads.
//
// Two passes over the keys (spec constant PASS) so that, as in the reference, every probability is
// exp(s - m) with m the row's GLOBAL max and is rounded to bf16 before P.V (an online softmax
// would round exp(s - m_partial), which the reference never does):
//   PASS 0: scores of the split's keys -> max_part[row][head][split]
//   PASS 1: m = max over splits; p = bf16(exp(s - m)); acc = sum p k, den = sum exp(s - m).
//           One split: finish here (den += exp(sink - m), bf16(acc / den), inverse RoPE -> o).
//           Several: write acc_part / den_part; attn_merge finishes.
// With max_keys > 0 (decode: scratch for every row's scores is small) PASS 0 stores the scores
// and PASS 1 skips the dot products and their reductions, its costliest part.
// The keys of a row are split evenly over n_splits workgroups (flash-decoding: decode rows get
// parallelism over keys), at least MIN_CHUNK keys each: n_splits is sized for the longest context
// the cache holds, and a short context would otherwise leave one key per split and make the merge
// add hundreds of near-empty partials. Splits past the last used one write max_part = -inf in
// PASS 0 and nothing else (attn_merge skips them). A workgroup serves HG heads, so each key it
// loads is used HG times. PASS 1 reduces the splits' maxima over all threads (subgroupMax), not
// in one thread's serial loop.
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
layout(std430, set = 0, binding = 12) buffer Scores { float scores[]; };  // [max_rows][n_heads][max_keys]

layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, window;
  uint ratio, entries_per_seq, index_topk, n_splits;
  uint rope_slot;
  float scale;
  uint max_keys;  // > 0: PASS 0 keeps its scaled scores and PASS 1 reads them instead of recomputing
} pc;

const uint THREADS = 128;
const uint HG = 8;        // heads per workgroup
const uint KT = 8;        // keys per tile
const uint SLOTS = HG * KT;
const uint MAX_SUBGROUPS = 32;
const uint MIN_CHUNK = 8;  // keys per split at least: one KT tile
const float NEG_INF = -1.0 / 0.0;

const uint KEY_NONE = 0, KEY_KV = 1, KEY_RING = 2, KEY_COMPRESSED = 3;

shared float red[MAX_SUBGROUPS * SLOTS];
shared float p_sh[SLOTS];
shared float m_sh[HG];

uint n_keys(uint row) {
  const int p = step.rows[row].pos;
  const uint nw = uint(p - max(0, p - int(pc.window) + 1) + 1);
  if (pc.ratio == 4u) return nw + pc.index_topk;
  if (pc.ratio > 0u) return nw + uint(p + 1) / pc.ratio;
  return nw;
}

// Key j of the row: where it lives (kind) and its kv row or entry index (at).
uint describe_key(uint row, uint j, out uint at) {
  const StepRow r = step.rows[row];
  const int ws = max(0, r.pos - int(pc.window) + 1);
  const uint nw = uint(r.pos - ws + 1);
  if (j < nw) {
    const int qpos = ws + int(j), cs = step_chunk_start(row);
    if (qpos < cs) {
      at = uint(r.seq) * pc.window + uint(qpos) % pc.window;
      return KEY_RING;
    }
    at = uint(r.first_row + (qpos - cs));
    return KEY_KV;
  }
  int c = int(j - nw);
  if (pc.ratio == 4u) c = index_sel[row * pc.index_topk + uint(c)];
  at = uint(r.seq) * pc.entries_per_seq + uint(max(c, 0));
  return c < 0 ? KEY_NONE : KEY_COMPRESSED;
}

uint entry_word(bool from_ring, uint w) { return from_ring ? ring[w] : compressed[w]; }

// Dims d0..d0+3 of a native entry (cache_layout.glsl) starting at word `base`. nope % 4 == 0, so
// the four are all e4m3 codes of one 64-block (one word) or all bf16 (two words).
vec4 entry_dims(bool from_ring, uint base, uint d0) {
  const uint nope = pc.head_dim - pc.rope_dim;
  if (d0 < nope) {
    const uint sb = kv_scale_byte(nope, pc.rope_dim) + d0 / 64u;
    const uint codes = entry_word(from_ring, base + d0 / 4u);
    const int e = e8m0_exponent(byte_in_word(entry_word(from_ring, base + sb / 4u), sb));
    return vec4(ldexp(e4m3_to_float(byte_in_word(codes, 0u)), e), ldexp(e4m3_to_float(byte_in_word(codes, 1u)), e),
                ldexp(e4m3_to_float(byte_in_word(codes, 2u)), e), ldexp(e4m3_to_float(byte_in_word(codes, 3u)), e));
  }
  const uint w = base + (nope + 2u * (d0 - nope)) / 4u;
  const uint lo = entry_word(from_ring, w), hi = entry_word(from_ring, w + 1u);
  return vec4(bf16_to_float(lo & 0xffffu), bf16_to_float(lo >> 16), bf16_to_float(hi & 0xffffu), bf16_to_float(hi >> 16));
}

vec4 load_key(uint kind, uint at, uint d0, uint words) {
  if (kind == KEY_NONE || d0 >= pc.head_dim) return vec4(0.0);
  if (kind == KEY_KV) return kv4[(at * pc.head_dim + d0) / 4u];
  return entry_dims(kind == KEY_RING, at * words, d0);
}

void main() {
  const uint split = gl_WorkGroupID.x, h0 = gl_WorkGroupID.y * HG, row = gl_WorkGroupID.z;
  const uint t = gl_LocalInvocationID.x, d0 = 4u * t;
  if (row >= step.n_rows) return;
  const uint n_active = min(HG, pc.n_heads - h0);
  const uint nk = n_keys(row), chunk = max((nk + pc.n_splits - 1u) / pc.n_splits, MIN_CHUNK);
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
    const bool recompute = PASS == 0u || pc.max_keys == 0u;
    if (recompute) {
      for (uint h = 0u; h < HG; ++h)
        for (uint k = 0u; k < KT; ++k) {
          const float s = subgroupAdd(dot(qv[h], kv[k]));
          if (subgroupElect()) red[gl_SubgroupID * SLOTS + h * KT + k] = s;
        }
    }
    barrier();  // red ready; every thread is done with the previous tile's p_sh
    if (t < SLOTS) {
      const uint score_at = (row * pc.n_heads + h0 + slot_h) * pc.max_keys + j0 + slot_k;
      float s;
      if (recompute) {
        s = 0.0;
        for (uint g = 0u; g < gl_NumSubgroups; ++g) s += red[g * SLOTS + t];
        s = slot_h < n_active && valid[slot_k] ? s * pc.scale : NEG_INF;
        if (PASS == 0u && pc.max_keys > 0u && slot_h < n_active && j0 + slot_k < j_end) scores[score_at] = s;
      } else {
        s = slot_h < n_active && j0 + slot_k < j_end ? scores[score_at] : NEG_INF;
      }
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
  const uint nope = pc.head_dim - pc.rope_dim;
  for (uint h = 0u; h < n_active; ++h) {
    if (pc.n_splits > 1u) {
      acc_part4[(((row * pc.n_splits + split) * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] = acc[h];
      continue;
    }
    const float den_h = p_sh[h];
    vec4 y = vec4(round_bf16(acc[h].x / den_h), round_bf16(acc[h].y / den_h), round_bf16(acc[h].z / den_h),
                  round_bf16(acc[h].w / den_h));
    if (d0 >= nope) {  // the inverse RoPE of attn_output on this thread's two pairs
      const uint pair = (d0 - nope) / 2u;
      const vec2 a = rope_rotate(y.xy, rope_cs(row, pc.rope_slot, pair), true);
      const vec2 b = rope_rotate(y.zw, rope_cs(row, pc.rope_slot, pair + 1u), true);
      y = vec4(round_bf16(a.x), round_bf16(a.y), round_bf16(b.x), round_bf16(b.y));
    }
    o4[((row * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] = y;
  }
}
