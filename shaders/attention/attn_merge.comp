#version 450
// Finishes sparse attention split over several workgroups (sparse_attention.comp PASS 1): the
// partial P.V sums and denominators of the splits share the row's global max, so they simply add;
// then den += exp(sink - m), o = bf16(acc / den), and the inverse RoPE at the query position.
// Splits left unused by a short context have max_part = -inf and stale den/acc: they are skipped.
// The maxima and denominators are reduced over all threads (subgroup ops). A workgroup finishes
// 128 dims of one head (one per thread) and reads four splits' partials per step (independent
// loads in flight, added in split order): at long context a row has hundreds of splits, and one
// workgroup per head left the 64 heads' merges latency-bound (217 us at 1M, Flash HCA).
// Grid: (n_heads, ceil(head_dim / 128), max_rows).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"

layout(local_size_x = 128) in;
layout(std430, set = 0, binding = 2) readonly buffer Sink { float attn_sink[]; };
layout(std430, set = 0, binding = 3) readonly buffer MaxPart { float max_part[]; };
layout(std430, set = 0, binding = 4) readonly buffer AccPart { float acc_part[]; };
layout(std430, set = 0, binding = 5) readonly buffer DenPart { float den_part[]; };
layout(std430, set = 0, binding = 6) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Push { uint n_heads, head_dim, rope_dim, n_splits, rope_slot; } pc;

const uint THREADS = 128;
const uint UNROLL = 4;
const uint MAX_SPLITS = 256;     // attention_splits() clamps to 256
const uint MAX_SUBGROUPS = 32;
const float NEG_INF = -1.0 / 0.0;
shared float out_sh[THREADS];
shared float den_sh;
shared bool live_sh[MAX_SPLITS + UNROLL];
shared float m_red[MAX_SUBGROUPS], den_red[MAX_SUBGROUPS];

void main() {
  const uint h = gl_WorkGroupID.x, d0 = gl_WorkGroupID.y * THREADS, row = gl_WorkGroupID.z, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  float m = NEG_INF, den = 0.0;
  for (uint s = t; s < pc.n_splits + UNROLL; s += THREADS) {
    const float ms = s < pc.n_splits ? max_part[(row * pc.n_heads + h) * pc.n_splits + s] : NEG_INF;
    live_sh[s] = ms != NEG_INF;
    m = max(m, ms);
    if (ms != NEG_INF) den += den_part[(row * pc.n_splits + s) * pc.n_heads + h];
  }
  m = subgroupMax(m);
  den = subgroupAdd(den);
  if (subgroupElect()) {
    m_red[gl_SubgroupID] = m;
    den_red[gl_SubgroupID] = den;
  }
  barrier();
  if (t == 0u) {
    float mm = NEG_INF, dd = 0.0;
    for (uint g = 0u; g < gl_NumSubgroups; ++g) {
      mm = max(mm, m_red[g]);
      dd += den_red[g];
    }
    den_sh = dd + exp(attn_sink[h] - mm);
  }
  barrier();
  const uint d = d0 + t;
  const bool owns = d < pc.head_dim;
  float acc = 0.0;
  for (uint s = 0u; s < pc.n_splits; s += UNROLL) {
    float part[UNROLL];
    for (uint u = 0u; u < UNROLL; ++u)
      part[u] = owns && live_sh[s + u] ? acc_part[((row * pc.n_splits + s + u) * pc.n_heads + h) * pc.head_dim + d] : 0.0;
    for (uint u = 0u; u < UNROLL; ++u) acc += part[u];
  }
  const float y = round_bf16(acc / den_sh);
  const uint nope = pc.head_dim - pc.rope_dim, base = (row * pc.n_heads + h) * pc.head_dim;
  // The inverse RoPE pairs dims (nope + 2i, nope + 2i + 1); d0 and nope are even, so a pair never
  // straddles two workgroups.
  out_sh[t] = y;
  barrier();
  if (!owns) return;
  if (d < nope) {
    o[base + d] = y;
  } else if (((d - nope) & 1u) == 0u) {
    const uint pair = (d - nope) / 2u;
    const vec2 r = rope_rotate(vec2(y, out_sh[t + 1u]), rope_cs(row, pc.rope_slot, pair), true);
    o[base + d] = round_bf16(r.x);
    o[base + d + 1u] = round_bf16(r.y);
  }
}
