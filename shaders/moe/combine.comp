#version 450
#extension GL_GOOGLE_include_directive : require
// MoE combine (graph::moe_forward): the routed experts' outputs summed in fp32 by increasing
// expert id (stable: equal ids keep their slot order), then + the shared expert, rounded to bf16.
// One thread per output value; the k ids are re-sorted per thread (k is small).
layout(local_size_x = 256) in;

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) readonly buffer Part { float part[]; };  // [rows, k+1, dim]
layout(std430, binding = 3) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform Params { uint dim, topk; } p;

const uint MAX_TOPK = 32u;  // graph/vulkan/moe.cpp checks topk <= this

void main() {
  const uint row = gl_WorkGroupID.y;
  const uint d = gl_GlobalInvocationID.x;
  if (row >= step.n_rows || d >= p.dim) return;
  const uint k1 = p.topk + 1u;
  const uint rbase = row * 2u * p.topk;
  precise float acc = 0.0;
  // Slot j goes at position #{i : id_i < id_j or (id_i == id_j and i < j)} (a stable sort by id).
  uint order[MAX_TOPK];
  for (uint j = 0u; j < p.topk; ++j) {
    const uint idj = route[rbase + j];
    uint rank = 0u;
    for (uint i = 0u; i < p.topk; ++i) {
      const uint idi = route[rbase + i];
      if (idi < idj || (idi == idj && i < j)) ++rank;
    }
    order[rank] = j;
  }
  for (uint pos = 0u; pos < p.topk; ++pos) acc += part[(row * k1 + order[pos]) * p.dim + d];
  precise float total = acc + part[(row * k1 + p.topk) * p.dim + d];
  outv[row * p.dim + d] = round_bf16(total);
}
