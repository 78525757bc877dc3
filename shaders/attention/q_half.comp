#version 450
// The queries of prefill sparse attention as exact fp16 for scores_coopmat.comp, once per row
// instead of once per 64-key workgroup (each converted all 64 heads x head_dim fp32 queries again:
// ten times a row for a CSA layer's 640 keys). q [max_rows, n_heads, head_dim] fp32 (bf16 values)
// -> q16 [max_rows, HP, HDP] fp16, HP = n_heads rounded up to 64 and HDP = head_dim up to 64
// (zeros past both), each 64-dim chunk of a 32-head group times 2^s with s = fp16_chunk_shift of
// the chunk's largest |q| (exact down to 2^-31 of it, as scores_coopmat.comp staged them), and
// the shifts, q_shift [max_rows, HP / 32, HDP / 64].
// Workgroup: 256 threads = one row's group of 32 heads; thread t loads head t / 8, vec4 columns
// t % 8 and t % 8 + 8 of every chunk (all loads first), the chunk maxima meet in shared memory.
// Grid: (HP / 32, max_rows).
// Where n_heads % 64 == 0 and head_dim % 64 == 0 (V4-Flash and -Pro), q_heads_half.comp writes the
// same bytes itself and this dispatch is skipped (graph/vulkan/attention.h q_heads_write_half).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 1) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Q16 { uvec2 q16[]; };
layout(std430, set = 0, binding = 3) writeonly buffer QShift { int q_shift[]; };
layout(push_constant) uniform Push { uint n_heads, head_dim; } pc;

#include "fp16_chunk.glsl"

const uint MAX_CHUNKS = 8u;  // head_dim <= 512
shared uint chunk_max[MAX_CHUNKS];

void main() {
  const uint g = gl_WorkGroupID.x, row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  const uint chunks = (pc.head_dim + 63u) / 64u, hp = (pc.n_heads + 63u) / 64u * 64u, hdp = chunks * 64u;
  const uint h = 32u * g + t / 8u, v = t % 8u;
  if (t < MAX_CHUNKS) chunk_max[t] = 0u;
  vec4 x[2u * MAX_CHUNKS];
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c)
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      const uint d = 64u * c + 4u * (v + 8u * i);
      x[2u * c + i] = c < chunks && h < pc.n_heads && d < pc.head_dim ? q4[((row * pc.n_heads + h) * pc.head_dim + d) / 4u] : vec4(0.0);
    }
  barrier();  // chunk_max cleared
  // Unrolled whole loops, no early exit: x stays in registers (NVIDIA kept it in local memory).
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c) {
    const vec4 a = max(abs(x[2u * c]), abs(x[2u * c + 1u]));
    const float m = subgroupMax(max(max(a.x, a.y), max(a.z, a.w)));
    if (c < chunks && subgroupElect()) atomicMax(chunk_max[c], floatBitsToUint(m));
  }
  barrier();
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c) {
    if (c < chunks) {
      const int s = fp16_chunk_shift(chunk_max[c]);
      const float f = ldexp(1.0, s);
      [[unroll]] for (uint i = 0u; i < 2u; ++i) q16[((row * hp + h) * hdp + 64u * c) / 4u + v + 8u * i] = pack_half4(x[2u * c + i] * f);
      if (t == 0u) q_shift[(row * (hp / 32u) + g) * chunks + c] = s;
    }
  }
}
