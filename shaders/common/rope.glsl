// Rotary embedding from per-row cos/sin tables (model-spec §3.4). The host computes the tables for
// each step's rows with the CPU reference's own fp32 math (graph/rope.cpp), so GPU RoPE is
// bit-identical and needs no accurate large-argument sin/cos in shaders (positions reach 2^20).
//
// Layout of the rope buffer: vec2(cos, sin) at [(row * rope_slots + slot) * rope_pairs + i].
// Slots (graph/vulkan/step.h RopeSlots): 0 = rope_theta table at the row's position;
// 1 = compress_rope_theta + YaRN table at the row's position; 2 + j = the YaRN table at the start
// of the compression window that closes at the row's position (pos + 1 - ratio_j), j-th distinct
// compress ratio of the config in ascending order.
//
// Usage:   #define DSV4_ROPE_BINDING 1   (and include step.glsl first)
//          #include "rope.glsl"
#ifndef DSV4_ROPE_GLSL
#define DSV4_ROPE_GLSL

#ifndef DSV4_ROPE_BINDING
#error "define DSV4_ROPE_BINDING before including rope.glsl"
#endif

layout(std430, set = 0, binding = DSV4_ROPE_BINDING) readonly buffer RopeBuffer { vec2 cs[]; } rope;

vec2 rope_cs(uint row, uint slot, uint i) { return rope.cs[(row * step.rope_slots + slot) * step.rope_pairs + i]; }

// Rotates the interleaved pair (x[2i], x[2i+1]); `inverse` uses the conjugate. fp32 math, and the
// caller rounds to bf16 (as graph/rope.cpp apply_rope does).
vec2 rope_rotate(vec2 x, vec2 cs, bool inverse) {
  const float s = inverse ? -cs.y : cs.y;
  precise float re = x.x * cs.x - x.y * s;
  precise float im = x.x * s + x.y * cs.x;
  return vec2(re, im);
}

#endif  // DSV4_ROPE_GLSL
