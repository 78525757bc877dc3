#version 450
// Index queries in place (model-spec §3.5.5 step 1; oracle CpuExecutor::indexer_query): per head
// of q [max_rows, heads * dim]: RoPE on the last rope_dim dims (bf16), Hadamard (fp32 butterflies,
// then bf16(v / sqrt(dim))), FP4 round-trip in blocks of 32. Every step is exact or a single
// rounding of the same fp32 value as the reference, so the result is bit-identical.
// One workgroup per (row, head); rows >= n_rows are skipped.
#extension GL_GOOGLE_include_directive : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#define DSV4_ROPE_BINDING 1
#include "rope.glsl"
#include "quant.glsl"

const uint WG = 64u;
const uint MAX_DIM = 1024u;
layout(local_size_x = 64) in;

layout(std430, binding = 2) buffer Q { float q[]; };

layout(push_constant) uniform Params {
  uint heads;
  uint dim;  // index_head_dim, a power of two <= MAX_DIM
  uint rope_dim;
  uint rope_slot;  // RopeSlots::at_pos(ratio)
  float hadamard_scale;  // float(1 / sqrt(dim))
} p;

shared float x[MAX_DIM];
shared int block_exp[MAX_DIM / 32u];

void main() {
  const uint row = gl_WorkGroupID.x, head = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint base = (row * p.heads + head) * p.dim;
  for (uint i = t; i < p.dim; i += WG) x[i] = q[base + i];
  barrier();
  const uint r0 = p.dim - p.rope_dim;
  for (uint i = t; i < p.rope_dim / 2u; i += WG) {
    const vec2 v = rope_rotate(vec2(x[r0 + 2u * i], x[r0 + 2u * i + 1u]), rope_cs(row, p.rope_slot, i), false);
    x[r0 + 2u * i] = round_bf16(v.x);
    x[r0 + 2u * i + 1u] = round_bf16(v.y);
  }
  barrier();
  for (uint h = 1u; h < p.dim; h *= 2u) {
    for (uint i = t; i < p.dim / 2u; i += WG) {
      const uint j = (i / h) * 2u * h + (i % h);
      const float a = x[j], b = x[j + h];
      precise float s = a + b;
      precise float d = a - b;
      x[j] = s;
      x[j + h] = d;
    }
    barrier();
  }
  for (uint i = t; i < p.dim; i += WG) {
    precise float v = x[i] * p.hadamard_scale;
    x[i] = round_bf16(v);
  }
  barrier();
  for (uint b = t; b * 32u < p.dim; b += WG) {
    float amax = 0.0;
    for (uint i = b * 32u; i < min(p.dim, b * 32u + 32u); ++i) amax = max(amax, abs(x[i]));
    block_exp[b] = fp4_scale_exponent(amax);
  }
  barrier();
  for (uint i = t; i < p.dim; i += WG) q[base + i] = fp4_roundtrip(x[i], block_exp[i / 32u]);
}
