#version 450
// Finishes sparse attention split over several workgroups (sparse_attention.comp PASS 1): the
// partial P.V sums and denominators of the splits share the row's global max, so they simply add;
// then den += exp(sink - m), o = bf16(acc / den), and the inverse RoPE at the query position.
// Splits left unused by a short context have max_part = -inf and stale den/acc: they are skipped.
// The maxima and denominators are reduced over all threads (subgroup ops), and each thread adds
// the splits' partials for all of its dims at once (independent loads in flight, not one serial
// chain per dim). One workgroup per (head, row).
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

const uint MAX_DH = 1024;
const uint THREADS = 128;
const uint DIMS_PER_THREAD = MAX_DH / THREADS;
const uint MAX_SPLITS = 256;     // attention_splits() clamps to 256
const uint MAX_SUBGROUPS = 32;
const float NEG_INF = -1.0 / 0.0;
shared float out_sh[MAX_DH];
shared float den_sh;
shared bool live_sh[MAX_SPLITS];
shared float m_red[MAX_SUBGROUPS], den_red[MAX_SUBGROUPS];

void main() {
  const uint h = gl_WorkGroupID.x, row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  float m = NEG_INF, den = 0.0;
  for (uint s = t; s < pc.n_splits; s += THREADS) {
    const float ms = max_part[(row * pc.n_heads + h) * pc.n_splits + s];
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
  float acc[DIMS_PER_THREAD];
  for (uint i = 0u; i < DIMS_PER_THREAD; ++i) acc[i] = 0.0;
  for (uint s = 0u; s < pc.n_splits; ++s) {
    if (!live_sh[s]) continue;
    const uint base = ((row * pc.n_splits + s) * pc.n_heads + h) * pc.head_dim;
    for (uint i = 0u; i < DIMS_PER_THREAD; ++i)
      if (t + THREADS * i < pc.head_dim) acc[i] += acc_part[base + t + THREADS * i];
  }
  for (uint i = 0u; i < DIMS_PER_THREAD; ++i)
    if (t + THREADS * i < pc.head_dim) out_sh[t + THREADS * i] = round_bf16(acc[i] / den_sh);
  barrier();
  const uint nope = pc.head_dim - pc.rope_dim, base = (row * pc.n_heads + h) * pc.head_dim;
  for (uint d = t; d < nope; d += 128u) o[base + d] = out_sh[d];
  for (uint pair = t; pair < pc.rope_dim / 2u; pair += 128u) {
    const uint d = nope + 2u * pair;
    const vec2 y = rope_rotate(vec2(out_sh[d], out_sh[d + 1u]), rope_cs(row, pc.rope_slot, pair), true);
    o[base + d] = round_bf16(y.x);
    o[base + d + 1u] = round_bf16(y.y);
  }
}
