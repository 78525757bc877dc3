#version 450
// The KV row after kv_norm (model-spec §3.5.2), in place on kv [max_rows, head_dim]: RoPE on the
// last rope_dim dims at the row's position, then the FP8 round-trip of the nope dims in blocks of
// 64 (quant.glsl, bit-exact with graph::fp8_roundtrip). One workgroup per row.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"

layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 2) buffer KV { float kv[]; };
layout(push_constant) uniform Push { uint head_dim, rope_dim, rope_slot; } pc;

const uint MAX_BLOCKS = 32;  // nope <= 2048
shared int block_exp[MAX_BLOCKS];

void main() {
  const uint row = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint base = row * pc.head_dim, nope = pc.head_dim - pc.rope_dim, blocks = (nope + 63u) / 64u;
  // Block amax is order-independent, so one thread per block scans it.
  for (uint b = t; b < blocks; b += 64u) {
    float amax = 0.0;
    for (uint i = b * 64u; i < min(nope, b * 64u + 64u); ++i) amax = max(amax, abs(kv[base + i]));
    block_exp[b] = fp8_scale_exponent(amax);
  }
  barrier();
  for (uint i = t; i < nope; i += 64u) kv[base + i] = fp8_roundtrip(kv[base + i], block_exp[i / 64u]);
  for (uint pair = t; pair < pc.rope_dim / 2u; pair += 64u) {
    const uint i = base + nope + 2u * pair;
    const vec2 y = rope_rotate(vec2(kv[i], kv[i + 1u]), rope_cs(row, pc.rope_slot, pair), false);
    kv[i] = round_bf16(y.x);
    kv[i + 1u] = round_bf16(y.y);
  }
}
