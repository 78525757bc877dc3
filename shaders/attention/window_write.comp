#version 450
// Finished KV rows -> the window ring (ring_entry.glsl). One workgroup per row.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 1) readonly buffer KV { float kv[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Ring { uint ring[]; };
layout(push_constant) uniform Push { uint head_dim, rope_dim, window; } pc;

uint kv_base;
#define RING_VALUE(i) kv[kv_base + (i)]
#include "ring_entry.glsl"

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= step.n_rows) return;
  kv_base = row * pc.head_dim;
  write_ring_entry(row, pc.head_dim, pc.rope_dim, pc.window);
}
