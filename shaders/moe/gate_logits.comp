#version 450
#extension GL_GOOGLE_include_directive : require
// MoE router, split over E/4 workgroups per row: gate_common.glsl's sequential dot per expert (the
// same operations in the same order, so the same bits as gate.comp and graph::linear_fp32), fed
// through shared memory, and its score; the row's last workgroup to finish then selects.
// Each thread walking its own 8 KB gate row left one 16-byte load in flight per expert and made
// the dot memory-latency bound (~90 us per Flash layer for a 2 MB read). Here EPW experts share a
// workgroup: the threads past the first subgroup load the next 512 columns of the EPW rows
// (coalesced) and of x, and write their products into the other half of a double buffer, while
// one thread per expert adds up the current half in order. The sum is the dot's whole latency
// chain (one dependent add per column), so the summing threads do nothing else: with the
// products formed there too (a bf16 decode, a multiply and shared-memory reads per column) the
// Flash gate took 41.7 us on an H100, 20 of them the dot. Groups (ceil(E / EPW), max_rows).
// Each workgroup writes its experts' scores, then counts itself done on its row's counter; the one
// that completes the count reads every score and runs the selection (gate_common.glsl), then
// rewinds the counter for the next dispatch (a separate selection dispatch cost a dependent
// launch on the decode path: one per layer).
layout(local_size_x = 128) in;
#define GATE_DOTS
#define GATE_SELECT
#define SELECT_THREADS 128u
#include "gate_common.glsl"

// Scores [max_rows, E] (coherent: the last workgroup reads what the others wrote) and a counter per
// row (zero between dispatches).
layout(std430, binding = 6) coherent buffer Scores { float scores[]; };
layout(std430, binding = 7) coherent buffer Counters { uint counters[]; };
shared bool last_of_row;

const uint EPW = 4u;        // experts (summing threads) per workgroup
const uint STAGE8 = 64u;    // 8-column chunks per stage: 512 columns
const uint LOADER0 = 32u;   // first loading thread: the summing threads never wait on a load
// Products x[c] * gate[e][c], two vec4 per chunk; rows padded by one vec4 so that the summing
// threads' reads hit distinct banks. 16 KiB.
shared vec4 prod[2][EPW][2u * STAGE8 + 1u];

void load_stage(uint buf, uint row, uint e0, uint c0, uint chunks) {
  for (uint i = gl_LocalInvocationID.x - LOADER0; i < EPW * STAGE8; i += gl_WorkGroupSize.x - LOADER0) {
    const uint r = i / STAGE8, c = i % STAGE8;
    const uint e = min(e0 + r, p.n_experts - 1u);
    vec4 lo = vec4(0.0), hi = vec4(0.0);
    if (c0 + c < chunks) {
      const uvec4 g = gate8[e * chunks + c0 + c];
      const vec4 a = x4[row * (p.dim / 4u) + 2u * (c0 + c)], b = x4[row * (p.dim / 4u) + 2u * (c0 + c) + 1u];
      precise vec4 pa = a * vec4(bf16_to_float(g.x), bf16_to_float(g.x >> 16), bf16_to_float(g.y), bf16_to_float(g.y >> 16));
      precise vec4 pb = b * vec4(bf16_to_float(g.z), bf16_to_float(g.z >> 16), bf16_to_float(g.w), bf16_to_float(g.w >> 16));
      lo = pa;
      hi = pb;
    }
    prod[buf][r][2u * c] = lo;
    prod[buf][r][2u * c + 1u] = hi;
  }
}

void main() {
  const uint row = gl_WorkGroupID.y;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  const uint lid = gl_LocalInvocationID.x;
  const uint e0 = gl_WorkGroupID.x * EPW;
  const uint chunks = p.dim / 8u;
  const uint stages = (chunks + STAGE8 - 1u) / STAGE8;
  precise float acc = 0.0;
  if (lid >= LOADER0) load_stage(0u, row, e0, 0u, chunks);
  barrier();
  for (uint s = 0u; s < stages; ++s) {
    const uint buf = s & 1u;
    if (lid >= LOADER0 && s + 1u < stages) load_stage(buf ^ 1u, row, e0, (s + 1u) * STAGE8, chunks);
    if (lid < EPW) {
      const uint n = min(STAGE8, chunks - s * STAGE8);
      for (uint c = 0u; c < n; ++c) {
        const vec4 a = prod[buf][lid][2u * c], b = prod[buf][lid][2u * c + 1u];
        acc += a.x;
        acc += a.y;
        acc += a.z;
        acc += a.w;
        acc += b.x;
        acc += b.y;
        acc += b.z;
        acc += b.w;
      }
    }
    barrier();
  }
  if (lid < EPW && e0 + lid < p.n_experts) scores[row * p.n_experts + e0 + lid] = sqrt_softplus(acc);
  memoryBarrierBuffer();  // the scores are visible before this workgroup counts itself done
  barrier();
  if (lid == 0u) last_of_row = atomicAdd(counters[row], 1u) == gl_NumWorkGroups.x - 1u;
  barrier();
  if (!last_of_row) return;  // uniform over the workgroup
  memoryBarrierBuffer();
  for (uint e = lid; e < p.n_experts; e += SELECT_THREADS) score[e] = scores[row * p.n_experts + e];
  if (lid == 0u) counters[row] = 0u;
  barrier();
  select_scored_row(row);
}
