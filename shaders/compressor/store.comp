#version 450
// The KV Compressor's state update (model-spec §3.5.4), run after compressor/emit.comp: each row's
// (kv, score + ape) goes to its ring slot (see emit.comp) unless a later row of the same sequence in
// this step reuses that slot (position pos + coff * ratio), so every slot ends holding the latest
// position a later step can still need, with no write conflicts. Grid: (max_rows, ceil(width / WG)).
#extension GL_GOOGLE_include_directive : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 1) readonly buffer KvIn { float kv_in[]; };
layout(std430, binding = 2) readonly buffer ScoreIn { float score_in[]; };
layout(std430, binding = 3) readonly buffer Ape { float ape[]; };
layout(std430, binding = 4) writeonly buffer State { float state[]; };

layout(push_constant) uniform Params {
  uint d;
  uint ratio;
  uint coff;
  uint in_stride;  // floats between the rows of kv_in / score_in
} p;

#include "state_store.glsl"

void main() {
  const uint r = gl_WorkGroupID.x, i = gl_WorkGroupID.y * 256u + gl_LocalInvocationID.x;
  const uint width = p.coff * p.d, span = p.coff * p.ratio;
  if (r >= step.n_rows || i >= width) return;
  const int first = step.rows[r].first_row;
  if (r + span < step.n_rows && step.rows[r + span].first_row == first) return;  // reused later this step
  store_state(r, i);
}
