#version 450
// dst[k, :] = src[index[k], :] for the rows k < n_rows of a step descriptor: collects the last row
// of each sequence of a step (the rows whose logits are wanted) into consecutive rows.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 1) readonly buffer Index { int index[]; };
layout(std430, binding = 2) readonly buffer Src { float src[]; };
layout(std430, binding = 3) writeonly buffer Dst { float dst[]; };
layout(push_constant) uniform P { uint width; };

void main() {
  const uint k = gl_WorkGroupID.y, i = gl_GlobalInvocationID.x;
  if (k >= step.n_rows || i >= width) return;
  dst[k * width + i] = src[uint(index[k]) * width + i];
}
