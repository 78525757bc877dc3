#version 450
// The GPU sampler's picks become the next decode step's input tokens: row k of the step takes the
// pick of out row k (decode steps order their rows like the sequences of the previous step's out
// rows), so a decode step needs no host round trip for its token.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 2
#define DSV4_STEP_WRITABLE
#include "step.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer OutStep { uint n_out; uint out_pad[3]; StepRow out_rows[]; };
layout(std430, binding = 1) readonly buffer Sampled { int sampled[]; };

void main() {
  const uint k = gl_GlobalInvocationID.x;
  if (k >= n_out) return;
  step.rows[k].token = sampled[k];
}
