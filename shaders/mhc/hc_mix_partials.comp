#version 450
// The first half of hc_pre / hc_head when the rows are few (decode): the partial dots of the mixes,
// one workgroup per (512-wide block of the flattened streams, row), so the fn matrix is read by
// ~width/512 workgroups at once instead of one per row. partials[(row*outputs + o)*blocks + b] =
// sum over i in block b, in order, of fn[o, i] * X[i]: exactly graph/mhc.cpp k_blocked_dot's
// inner sums (no FMA: `precise`), which hc_mix.glsl (HC_MIX_PARTIALS_BINDING) then adds block by
// block. fn's block arrives in shared memory in two coalesced halves (all loads in flight at
// once), then one invocation per output sums its row in order.
// The workgroups b < nodes also sum the squares of the streams over node b of graph::pairwise_sum's
// tree at level log2(nodes) (graph/reduce.h; the same leaves, order and tree below the node; all
// ROWS rows together, one group of invocations each: a call per row cost ~9 barriers each), into
// partials[node_base + row * nodes + b], so hc_mix.glsl only adds the nodes up (pairwise, as the
// top of the same tree) instead of one workgroup summing all hc*D squares.
// ROWS rows per workgroup (prefill): each staged fn chunk serves ROWS rows, outputs x ROWS
// invocations chain the dots (one workgroup per (block, row) read fn once per row: 6.4 GB of L2
// traffic a call at 4,096 rows of Flash, 2 ms on an H100).
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint ROWS = 1;  // step rows per workgroup: 1..10 (outputs * ROWS <= 256)
layout(std430, binding = 1) readonly buffer Streams { vec4 xs4[]; };         // [max_rows, width]
layout(std430, binding = 2) readonly buffer Fn { vec4 fn4[]; };              // [outputs, width]
layout(std430, binding = 3) writeonly buffer Partials { float partials[]; };  // [max_rows, outputs, blocks]
layout(std430, binding = 1) readonly buffer StreamsF { float xs[]; };
layout(std430, binding = 3) writeonly buffer NodeSums { float node_sums[]; };
layout(push_constant) uniform P {
  uint width;      // hc * D, a multiple of 4
  uint outputs;    // mixes, <= 24
  uint blocks;     // ceil(width / 512)
  uint nodes;      // 2^level <= blocks: nodes of the sum-of-squares tree at that level
  uint level;
  uint sub_depth;  // pairwise depth below a node (<= 8: a node has < 1024 terms)
  uint node_base;  // floats before the node sums in the partials buffer
} p;

uint term_base;
#define PAIRWISE_TERM(i) (xs[term_base + (i)] * xs[term_base + (i)])
#define PW_MAX_SLOTS 1u  // pairwise_sum_groups keeps its slots in registers
#include "../norm/pairwise.glsl"

// The terms [begin, begin + size) of node `b` at `level` (the halving of graph::pairwise_sum; no
// node above the level is a leaf: they hold >= 256 terms).
void node_range(uint b, out uint begin, out uint size) {
  begin = 0u;
  size = p.width;
  for (uint l = 0u; l < p.level; ++l) {
    const uint half_n = size / 2u;
    if (((b >> (p.level - 1u - l)) & 1u) == 0u) {
      size = half_n;
    } else {
      begin += half_n;
      size -= half_n;
    }
  }
}

// Invocation groups summing the rows' squares (pairwise_sum_groups): a power of two >= ROWS, so
// a group has >= 16 invocations and a node's <= 256 pairwise slots fit it.
const uint SQUARE_GROUPS = ROWS <= 1u ? 1u : ROWS <= 2u ? 2u : ROWS <= 4u ? 4u : ROWS <= 8u ? 8u : 16u;
const uint BLOCK_K = 512u, CHUNK = 256u, C4 = CHUNK / 4u, MIX_MAX = 24u;
shared vec4 x_block[ROWS][BLOCK_K / 4u];
// Rows padded by one vec4: the summing invocations read the same column of different rows, which
// unpadded all fall in one bank (a 24-way conflict per read: ~15 us per call on an H100).
const uint ROW4 = C4 + 1u;
shared vec4 fn_chunk[MIX_MAX * ROW4];  // 24.4 KiB

void main() {
  const uint b = gl_WorkGroupID.x, row0 = gl_WorkGroupID.y * ROWS, t = gl_LocalInvocationID.x;
  if (row0 >= step.n_rows) return;  // uniform over the workgroup
  const uint rows = min(ROWS, step.n_rows - row0);
  const uint begin = b * BLOCK_K, len4 = (min(p.width, begin + BLOCK_K) - begin) / 4u;
  const uint w4 = p.width / 4u, b4 = begin / 4u;
  for (uint i = t; i < ROWS * len4; i += 256u) {
    const uint r = i / len4, j = i % len4;
    if (r < rows) x_block[r][j] = xs4[(row0 + r) * w4 + b4 + j];
  }
  // Chains: invocation t < outputs * rows sums output o = t % outputs of row r = t / outputs.
  const uint o = t % p.outputs, r = t / p.outputs;
  const bool chains = r < rows;
  precise float part = 0.0;
  for (uint c0 = 0u; c0 < len4; c0 += C4) {
    const uint clen = min(C4, len4 - c0);
    barrier();  // the previous chunk is consumed
    for (uint i = t; i < p.outputs * C4; i += 256u) {
      const uint oo = i / C4, j = i % C4;
      if (j < clen) fn_chunk[oo * ROW4 + j] = fn4[oo * w4 + b4 + c0 + j];
    }
    barrier();
    if (chains) {
      for (uint j = 0u; j < clen; ++j) {
        const vec4 f = fn_chunk[o * ROW4 + j], x = x_block[r][c0 + j];
        part += f.x * x.x;
        part += f.y * x.y;
        part += f.z * x.z;
        part += f.w * x.w;
      }
    }
  }
  if (chains) partials[((row0 + r) * p.outputs + o) * p.blocks + b] = part;
  if (b < p.nodes) {  // uniform in the workgroup: every row's node at once, a group of invocations each
    uint begin, size;
    node_range(b, begin, size);
    const uint group = 256u / SQUARE_GROUPS, rr = t / group;
    term_base = (row0 + min(rr, rows - 1u)) * p.width + begin;
    const float sq = pairwise_sum_groups(size, p.sub_depth, group);
    if (t % group == 0u && rr < rows) node_sums[p.node_base + (row0 + rr) * p.nodes + b] = sq;
  }
}
