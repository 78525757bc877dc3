#version 450
// Token embedding (model-spec §3.1): the bf16 row of each row's token, repeated into the hc
// residual streams out[row, s, :] (fp32 holding bf16 values). A token outside [0, vocab) writes
// zeros and raises status[0] |= 1 with status[1] = the offending id (the host reads and clears it
// after the step). The table arrives in up to 4 slices of rows_per_slice rows each, so a table
// larger than one binding (maxStorageBufferRange) still fits.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 1) readonly buffer T0 { uint t0[]; };
layout(std430, binding = 2) readonly buffer T1 { uint t1[]; };
layout(std430, binding = 3) readonly buffer T2 { uint t2[]; };
layout(std430, binding = 4) readonly buffer T3 { uint t3[]; };
layout(std430, binding = 5) writeonly buffer Out { float hc_out[]; };  // [max_rows, hc, D]
layout(std430, binding = 6) buffer Status { uint status[]; };          // [2]
layout(push_constant) uniform P {
  uint vocab;
  uint dim;
  uint hc;
  uint rows_per_slice;
} p;

uint table_word(uint slice, uint i) {
  if (slice == 0u) return t0[i];
  if (slice == 1u) return t1[i];
  if (slice == 2u) return t2[i];
  return t3[i];
}

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  const int token = step.rows[row].token;
  const bool ok = token >= 0 && uint(token) < p.vocab;
  if (!ok && gl_LocalInvocationID.x == 0u) {
    atomicOr(status[0], 1u);
    atomicExchange(status[1], uint(token));
  }
  const uint slice = ok ? uint(token) / p.rows_per_slice : 0u;
  const uint first = ok ? (uint(token) % p.rows_per_slice) * p.dim : 0u;  // bf16 index in the slice
  for (uint c = gl_LocalInvocationID.x; c < p.dim; c += 256u) {
    const float v = ok ? bf16_to_float(half_in_word(table_word(slice, (first + c) >> 1), first + c)) : 0.0;
    for (uint s = 0u; s < p.hc; ++s) hc_out[(row * p.hc + s) * p.dim + c] = v;
  }
}
