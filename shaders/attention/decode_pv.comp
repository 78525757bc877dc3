#version 450
// The P.V pass of decode sparse attention (graph/vulkan/attention.h, keep_scores), after
// decode_scores.comp: m = the row's global max per head (from the 32-key tiles' maxima),
// p = bf16(exp(s - m)) from the stored scores, acc = sum p v, den = sum exp(s - m) (model-spec
// §3.5.8: the reference rounds exp(s - global max), so no online softmax). One split: finish here
// (den += exp(sink - m), bf16(acc / den), inverse RoPE -> o). Several: write acc_part / den_part
// and max_part (m for used splits, -inf for the others) for attn_merge.
// Per split a workgroup serves HG heads (8 on the host's choice), so each key it loads and decodes
// feeds HG heads.
// Keys go in sub-chunks of 64: first all threads turn the sub-chunk's scores into p in shared
// memory (one barrier), then every thread runs through the keys with no barrier, loading four
// keys ahead of their FMAs. sparse_attention.comp's split pass instead paid two barriers and a
// 64-thread p step per 8 keys.
// Thread t owns dims 4t..4t+3 (head_dim <= 512): those dims of the HG heads' sums in registers.
// Splits: attention_keys.glsl split_chunk(), as sparse_attention.comp.
// Grid: (n_splits, ceil(n_heads / HG), max_rows); 128 threads.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 2) readonly buffer KV { vec4 kv4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Ring { uint ring[]; };
layout(std430, set = 0, binding = 4) readonly buffer Compressed { uint compressed[]; };
layout(std430, set = 0, binding = 5) readonly buffer IndexSel { int index_sel[]; };
layout(std430, set = 0, binding = 6) readonly buffer Sink { float attn_sink[]; };
layout(std430, set = 0, binding = 7) readonly buffer Scores { float scores[]; };     // [max_rows][n_heads][max_keys]
layout(std430, set = 0, binding = 8) readonly buffer TileMax { float tile_max[]; };  // [max_rows][n_heads][tiles]
layout(std430, set = 0, binding = 9) writeonly buffer MaxPart { float max_part[]; };
layout(std430, set = 0, binding = 10) writeonly buffer AccPart { vec4 acc_part4[]; };
layout(std430, set = 0, binding = 11) writeonly buffer DenPart { float den_part[]; };
layout(std430, set = 0, binding = 12) writeonly buffer Out { vec4 o4[]; };

// sparse_attention.comp's push constants.
layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, window;
  uint ratio, entries_per_seq, index_topk, n_splits;
  uint rope_slot;
  float scale;
  uint max_keys;
} pc;

#include "attention_keys.glsl"
#include "attention_output.glsl"

layout(constant_id = 0) const uint HG = 16;  // heads per workgroup: 8 or 16 (graph/vulkan/attention.cpp)
const uint THREADS = 128;
const uint SUB = 64;         // keys per sub-chunk
const uint KG = 4;           // keys loaded ahead of their FMAs
const uint HEADS_PER_THREAD = HG * SUB / THREADS;  // p step: 8 heads of one key
const uint SCORE_TILE = 32;        // decode_scores.comp KT
const uint M_LANES = THREADS / HG;
const float NEG_INF = -1.0 / 0.0;

shared vec4 p_sh[SUB * HG / 4];  // [key][head / 4]
shared float red[HG * SUB];
shared float m_sh[HG], den_sh[HG];

void main() {
  const uint split = gl_WorkGroupID.x, h0 = gl_WorkGroupID.y * HG, row = gl_WorkGroupID.z;
  const uint t = gl_LocalInvocationID.x, d0 = 4u * t;
  if (row >= step.n_rows) return;
  const uint n_active = min(HG, pc.n_heads - h0);
  const uint nk = n_keys(row);
  const uint chunk = split_chunk(nk);
  const uint used = (nk + chunk - 1u) / chunk;
  if (split >= used) {  // uniform: the whole workgroup leaves
    if (t < n_active) max_part[(row * pc.n_heads + h0 + t) * pc.n_splits + split] = NEG_INF;
    return;
  }
  const uint j_begin = split * chunk, j_end = min(nk, j_begin + chunk);
  const uint words = kv_entry_bytes(pc.head_dim - pc.rope_dim, pc.rope_dim) / 4u;

  {  // m per head: M_LANES threads per head over the score tiles, then one thread per head
    const uint h = t % HG, lane = t / HG;
    const uint parts = (nk + SCORE_TILE - 1u) / SCORE_TILE, stride = (pc.max_keys + SCORE_TILE - 1u) / SCORE_TILE;
    float m = NEG_INF;
    if (h < n_active)
      for (uint s = lane; s < parts; s += M_LANES) m = max(m, tile_max[(row * pc.n_heads + h0 + h) * stride + s]);
    red[h * M_LANES + lane] = m;
    barrier();
    if (t < HG) {
      float mm = NEG_INF;
      for (uint l = 0u; l < M_LANES; ++l) mm = max(mm, red[t * M_LANES + l]);
      m_sh[t] = mm;
    }
    barrier();
  }

  // p step role: key pk of the sub-chunk, heads ph0 + 2i.
  const uint pk = t % SUB, ph0 = t / SUB;
  float den[HEADS_PER_THREAD];
  for (uint i = 0u; i < HEADS_PER_THREAD; ++i) den[i] = 0.0;
  vec4 acc[HG];
  for (uint h = 0u; h < HG; ++h) acc[h] = vec4(0.0);

  for (uint c = j_begin; c < j_end; c += SUB) {
    const uint n = min(SUB, j_end - c);
    for (uint i = 0u; i < HEADS_PER_THREAD; ++i) {
      const uint h = ph0 + (THREADS / SUB) * i;
      const float s = pk < n && h < n_active ? scores[(row * pc.n_heads + h0 + h) * pc.max_keys + c + pk] : NEG_INF;
      const float e = s == NEG_INF ? 0.0 : exp(s - m_sh[h]);
      den[i] += e;
      p_sh[pk * (HG / 4u) + h / 4u][h % 4u] = round_bf16(e);
    }
    barrier();  // p_sh ready
    for (uint k = 0u; k < n; k += KG) {
      vec4 kv[KG];
      for (uint u = 0u; u < KG; ++u) {
        uint at = 0u;
        const uint kind = k + u < n ? describe_key(row, c + k + u, at) : KEY_NONE;
        kv[u] = load_key(kind, at, d0, words);
      }
      for (uint u = 0u; u < KG; ++u)
        for (uint q = 0u; q < HG / 4u; ++q) {
          const vec4 p = k + u < n ? p_sh[(k + u) * (HG / 4u) + q] : vec4(0.0);
          acc[4u * q] += p.x * kv[u];
          acc[4u * q + 1u] += p.y * kv[u];
          acc[4u * q + 2u] += p.z * kv[u];
          acc[4u * q + 3u] += p.w * kv[u];
        }
    }
    barrier();  // p_sh free for the next sub-chunk
  }

  // Denominators: each head's SUB partial sums, added in key-lane order.
  for (uint i = 0u; i < HEADS_PER_THREAD; ++i) red[(ph0 + (THREADS / SUB) * i) * SUB + pk] = den[i];
  barrier();
  if (t < n_active) {
    float den_h = 0.0;
    for (uint k = 0u; k < SUB; ++k) den_h += red[t * SUB + k];
    if (pc.n_splits > 1u) {
      den_part[(row * pc.n_splits + split) * pc.n_heads + h0 + t] = den_h;
      max_part[(row * pc.n_heads + h0 + t) * pc.n_splits + split] = m_sh[t];
    } else {
      den_sh[t] = den_h + exp(attn_sink[h0 + t] - m_sh[t]);  // the full denominator
    }
  }
  barrier();
  if (d0 >= pc.head_dim) return;
  for (uint h = 0u; h < HG; ++h) {  // constant bounds: a loop to n_active would index acc dynamically (local memory)
    if (h >= n_active) break;
    if (pc.n_splits > 1u)
      acc_part4[(((row * pc.n_splits + split) * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] = acc[h];
    else
      o4[((row * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] = attention_output(acc[h], den_sh[h], row, d0);
  }
}
