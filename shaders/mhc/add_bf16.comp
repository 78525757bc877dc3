#version 450
// MTP input (model-spec §3.8): out[row, s, :] = bf16(a[row, :] + b[row, s, :]), e_proj's output
// broadcast over the hc streams of h_proj's, for rows < n_rows.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "quant.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 1) readonly buffer A { float a[]; };      // [max_rows, D]
layout(std430, binding = 2) readonly buffer B { float b[]; };      // [max_rows, streams, D]
layout(std430, binding = 3) writeonly buffer O { float o[]; };     // [max_rows, streams, D]
layout(push_constant) uniform P {
  uint dim;
  uint streams;
} p;

void main() {
  const uint c = gl_GlobalInvocationID.x, s = gl_WorkGroupID.y, row = gl_WorkGroupID.z;
  if (row >= step.n_rows || c >= p.dim) return;
  const uint i = (row * p.streams + s) * p.dim + c;
  o[i] = round_bf16(a[row * p.dim + c] + b[i]);
}
