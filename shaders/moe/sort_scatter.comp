#version 450
#extension GL_GOOGLE_include_directive : require
// Prefill grouped GEMM, sort step 3 of 3: every (row, slot) pair of the step's n_rows rows goes to
// its expert's next free place (an atomic cursor from sort_scan.comp), as the word row * topk +
// slot. The order inside one expert depends on thread timing; the grouped GEMM's results do not
// (see grouped_gemm.comp).
layout(local_size_x = 256) in;

#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) buffer Cursor { uint cursor[]; };
layout(std430, binding = 3) writeonly buffer Pairs { uint pairs[]; };

layout(push_constant) uniform Params { uint topk, n_experts; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= step.n_rows * p.topk) return;
  const uint id = route[(i / p.topk) * 2u * p.topk + i % p.topk];
  if (id >= p.n_experts) return;  // not counted by sort_count.comp either
  pairs[atomicAdd(cursor[id], 1u)] = i;
}
