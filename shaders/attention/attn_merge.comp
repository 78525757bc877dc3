#version 450
// Finishes sparse attention split over several workgroups (sparse_attention.comp PASS 1): the
// partial P.V sums and denominators of the splits share the row's global max, so they simply add;
// then den += exp(sink - m), o = bf16(acc / den), and the inverse RoPE at the query position.
// One workgroup per (head, row).
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
shared float out_sh[MAX_DH];
shared float den_sh;

void main() {
  const uint h = gl_WorkGroupID.x, row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  if (t == 0u) {
    float m = -1.0 / 0.0, den = 0.0;
    for (uint s = 0u; s < pc.n_splits; ++s) {
      m = max(m, max_part[(row * pc.n_heads + h) * pc.n_splits + s]);
      den += den_part[(row * pc.n_splits + s) * pc.n_heads + h];
    }
    den_sh = den + exp(attn_sink[h] - m);
  }
  barrier();
  for (uint d = t; d < pc.head_dim; d += 128u) {
    float acc = 0.0;
    for (uint s = 0u; s < pc.n_splits; ++s) acc += acc_part[((row * pc.n_splits + s) * pc.n_heads + h) * pc.head_dim + d];
    out_sh[d] = round_bf16(acc / den_sh);
  }
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
