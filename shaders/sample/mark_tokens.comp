#version 450
// Adds tokens to the per-sequence presence bitmaps the repetition penalty reads
// ([seqs, words_per_seq] bits, token i = bit i%32 of word i/32). FROM_IDS = false: every row <
// n_rows marks its step token (the prompt); true: each row marks ids[row] when >= 0 (the sampler's
// picks, a separate dispatch so rows of one step never see each other's picks).
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(constant_id = 0) const bool FROM_IDS = false;
layout(local_size_x = 64) in;
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) buffer Presence { uint presence[]; };
layout(push_constant) uniform P {
  uint vocab;
  uint words_per_seq;
} p;

void main() {
  const uint row = gl_GlobalInvocationID.x;
  if (row >= step.n_rows) return;
  const int token = FROM_IDS ? ids[row] : step.rows[row].token;
  if (token < 0 || uint(token) >= p.vocab) return;
  const uint t = uint(token);
  atomicOr(presence[uint(step.rows[row].seq) * p.words_per_seq + (t >> 5)], 1u << (t & 31u));
}
