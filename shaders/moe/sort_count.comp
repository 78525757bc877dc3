#version 450
#extension GL_GOOGLE_include_directive : require
// Prefill grouped GEMM, sort step 1 of 3 (graph/vulkan/moe.cpp): the per-expert histogram of the
// route buffer's selected ids over the step's n_rows rows. One workgroup: a shared-memory
// histogram of at most a few 10^4 ids takes microseconds, and writing every count (zeros
// included) means the counts buffer needs no clearing between submissions.
layout(local_size_x = 256) in;

#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) writeonly buffer Counts { uint counts[]; };

layout(push_constant) uniform Params { uint topk, n_experts; } p;

const uint MAX_EXPERTS = 1024u;  // graph/vulkan/moe.cpp checks n_experts <= this
shared uint hist[MAX_EXPERTS];

void main() {
  const uint lid = gl_LocalInvocationID.x;
  for (uint e = lid; e < p.n_experts; e += 256u) hist[e] = 0u;
  barrier();
  const uint pairs = step.n_rows * p.topk;
  for (uint i = lid; i < pairs; i += 256u) {
    const uint id = route[(i / p.topk) * 2u * p.topk + i % p.topk];
    if (id < p.n_experts) atomicAdd(hist[id], 1u);
  }
  barrier();
  for (uint e = lid; e < p.n_experts; e += 256u) counts[e] = hist[e];
}
