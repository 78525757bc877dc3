#version 450
// Query heads after wq_b (model-spec §3.5.1), in place on q [max_rows, n_heads * head_dim]: the
// weightless per-head RMS norm in bf16 arithmetic (graph/norms.cpp head_rms_norm_bf16), then RoPE
// on the last rope_dim dims at the row's position. One workgroup per (head, row).
// The sum of squares runs sequentially in one thread, in the reference's order, so the norm is
// bit-identical (bf16-rounded squares summed in fp32 are order-sensitive); it is 512 adds.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"

layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 2) buffer Q { float q[]; };
layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, rope_slot;
  float eps;
} pc;

const uint MAX_HEAD_DIM = 1024;
shared float head[MAX_HEAD_DIM];
shared float inv_rms;

void main() {
  const uint h = gl_WorkGroupID.x, row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint base = (row * pc.n_heads + h) * pc.head_dim;
  for (uint i = t; i < pc.head_dim; i += 64u) head[i] = q[base + i];
  barrier();
  if (t == 0u) {
    float sum = 0.0;
    for (uint i = 0u; i < pc.head_dim; ++i) {
      precise float sq = head[i] * head[i];
      sum += round_bf16(sq);
    }
    precise float mean = round_bf16(sum * (1.0 / float(pc.head_dim)));
    precise float ms = round_bf16(mean + pc.eps);
    inv_rms = round_bf16(1.0 / sqrt(ms));
  }
  barrier();
  const float r = inv_rms;
  for (uint i = t; i < pc.head_dim; i += 64u) {
    precise float v = head[i] * r;
    head[i] = round_bf16(v);
  }
  barrier();
  const uint rope_start = pc.head_dim - pc.rope_dim;
  for (uint i = t; i < pc.head_dim; i += 64u) {
    if (i < rope_start) {
      q[base + i] = head[i];
    } else if (((i - rope_start) & 1u) == 0u) {
      const uint pair = (i - rope_start) / 2u;
      const vec2 y = rope_rotate(vec2(head[i], head[i + 1u]), rope_cs(row, pc.rope_slot, pair), false);
      q[base + i] = round_bf16(y.x);
      q[base + i + 1u] = round_bf16(y.y);
    }
  }
}
