#version 450
// Index queries in place (model-spec §3.5.5 step 1; oracle CpuExecutor::indexer_query): per head
// of q [max_rows, heads * dim]: RoPE on the last rope_dim dims (bf16), Hadamard (fp32 butterflies,
// then bf16(v / sqrt(dim))), FP4 round-trip in blocks of 32. Every step is exact or a single
// rounding of the same fp32 value as the reference, so the result is bit-identical.
// One workgroup per (row, head); rows >= n_rows are skipped. The arithmetic: query_math.glsl.
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
#define QM_GET(i) x[i]
#define QM_SET(i, v) x[i] = (v)
#define QM_MAX_BLOCKS (MAX_DIM / 32u)
#include "query_math.glsl"

void main() {
  const uint row = gl_WorkGroupID.x, head = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint base = (row * p.heads + head) * p.dim;
  for (uint i = t; i < p.dim; i += WG) x[i] = q[base + i];
  barrier();
  qm_rope(1u, p.dim, p.rope_dim, p.rope_slot, row, 1u, t, WG);
  qm_hadamard(1u, p.dim, p.hadamard_scale, t, WG);
  qm_fp4_exponents(1u, p.dim, t, WG);
  for (uint i = t; i < p.dim; i += WG) q[base + i] = fp4_roundtrip(x[i], qm_block_exp[i / 32u]);
}
