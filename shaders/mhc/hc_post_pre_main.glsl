// hc_post of one sub-layer fused with the hc_pre of the next (decode; graph/vulkan/mhc.h
// encode_hc_post_pre): one dispatch where there were three (hc_post, hc_mix_partials, hc_pre).
// Include after #version and the include extension (and the subgroup ones for
// HC_SUBGROUP_SINKHORN).
//
// One workgroup per (512-block b of the flattened streams, row), as hc_mix_partials.comp:
//  1. hc_post (graph::hc_post, the arithmetic of hc_post.comp) of the block's elements, out of
//     place: it reads the old streams (binding 11) and writes the new ones (binding 1), because
//     block b's element (k, c) needs every stream's column c, which other workgroups own.
//  2. The block's dots with the next hc_pre's mixes (fn, binding 2) from the new values in shared
//     memory, into the partials (binding 8): the sums hc_mix_partials.comp makes, bit for bit.
//  3. The row's last workgroup to finish (a per-row counter, binding 15, rewound after use) runs
//     hc_pre on the new streams (hc_pre_main.glsl, both roles, the squares summed here: nothing
//     but that workgroup reads all hc*D of them), writing y, post, comb and the fused norm.
// The post and comb read in step 1 are the ones step 3 overwrites: each row's are read by its own
// workgroups only, all of which have counted themselves done before its last one writes.
// Without TAIL (the faster form on an H100: the tail serialises in one workgroup what hc_pre_split
// does in two) step 3 is left to hc_pre_split.comp, and each workgroup instead sums the squares of
// its block, which is one node of the pairwise tree (where hc*D / 512 is a power of two), into
// the node sums hc_pre_split reads: hc_post and hc_mix_partials in one dispatch.
#define HC_MIX_PARTIALS_BINDING 8
#define HC_NORM_BINDINGS  // 9, 10: the fused RMSNorm
#define HC_MIX_OWN_SQUARES
#define HC_PRE_NO_MAIN
#define HC_STREAMS_QUALIFIER coherent     // written in step 1, read by the last workgroup
#define HC_PARTIALS_QUALIFIER coherent
#define HC_POST_COMB_QUALIFIER coherent
// The fn chunks of step 2 and the pairwise slots and mix partials of step 3 share one array:
// together they would pass the 32 KiB of shared memory some devices have.
const uint FN_CHUNK = 256u;              // floats of one fn row per pass
const uint FN_ROW = FN_CHUNK + 1u;       // padded: the summing invocations read one column of rows
#define HC_SCRATCH_FLOATS (24u * 257u)   // MIX_MAX rows; >= 4096 pairwise slots, >= 1536 partials
shared float hc_scratch[HC_SCRATCH_FLOATS];
#define PW_SLOTS_ARRAY hc_scratch
#define HC_MIX_PARTIAL_ARRAY hc_scratch
// The block's new stream values; without TAIL the block's sum of squares reads them here.
shared float x_block[512];  // BLOCK_K
bool pw_from_block = false;
#define PAIRWISE_TERM(i) (pw_from_block ? x_block[i] * x_block[i] : HC_MIX_TERM(i))  // HC_MIX_TERM: hc_mix.glsl
#include "hc_pre_main.glsl"

layout(std430, binding = 2) readonly buffer Fn4 { vec4 fn4[]; };              // fn as vec4
layout(std430, binding = 11) readonly buffer OldStreams { float xs_old[]; };  // [max_rows, hc, D]
layout(std430, binding = 12) readonly buffer F { float f[]; };                // [max_rows, D]
layout(std430, binding = 13) readonly buffer Route { uint route[]; };         // COMBINE: the MoE's route
layout(std430, binding = 14) readonly buffer Part { float part[]; };          // COMBINE: [max_rows, k+1, D]
layout(std430, binding = 15) coherent buffer Counters { uint counters[]; };   // [max_rows], zero between calls
layout(constant_id = 1) const bool COMBINE = false;
layout(constant_id = 2) const bool TAIL = true;
#include "../moe/combine.glsl"

shared bool last_of_row;

// graph::hc_post's new value of flattened element e = k*D + c of `row`.
float post_value(uint row, uint e) {
  const uint n = p.hc, k = e / p.dim, c = e % p.dim, base = row * n * p.dim + c;
  const float fc = COMBINE ? moe_combine(row, c, p.dim, p.topk) : f[row * p.dim + c];
  precise float mixed = 0.0;
  for (uint j = 0u; j < n; ++j) mixed += comb_out[row * n * n + j * n + k] * xs_old[base + j * p.dim];
  precise float v = post_out[row * n + k] * fc + mixed;
  return round_bf16(v);
}

// The fn vec4s of the block [begin, begin + len) an invocation stages for block_dot: chunk c's
// entries t + 256 m (m < FN_PER) of its outputs x FN_C4 (output i / FN_C4, vec4 i % FN_C4). All loaded at
// once at the start, before the post values: fn depends on nothing, and a load issued after a
// barrier costs a memory round trip of its own.
const uint FN_C4 = FN_CHUNK / 4u;
const uint FN_CHUNKS = BLOCK_K / FN_CHUNK;        // 2
const uint FN_PER = (MIX_MAX * FN_C4 + 255u) / 256u;  // 6
void load_fn(uint begin, uint len, uint outputs, out vec4 fnv[FN_CHUNKS][FN_PER]) {
  const uint t = gl_LocalInvocationID.x, w4 = p.hc * p.dim / 4u, b4 = begin / 4u, len4 = len / 4u;
  [[unroll]] for (uint c = 0u; c < FN_CHUNKS; ++c) {
    [[unroll]] for (uint m = 0u; m < FN_PER; ++m) {
      const uint i = t + 256u * m, o = i / FN_C4, j = i % FN_C4, c0 = c * FN_C4;
      fnv[c][m] = o < outputs && c0 + j < len4 ? fn4[o * w4 + b4 + c0 + j] : vec4(0.0);
    }
  }
}

// The dots of the block [begin, begin + len) with the `outputs` fn rows (fnv from load_fn), summed
// in order (hc_mix_partials.comp's loop; no FMA: `precise`); returned to invocations t < outputs.
float block_dot(uint len, uint outputs, vec4 fnv[FN_CHUNKS][FN_PER]) {
  const uint t = gl_LocalInvocationID.x, len4 = len / 4u;
  precise float part = 0.0;
  [[unroll]] for (uint c = 0u; c < FN_CHUNKS; ++c) {
    const uint c0 = c * FN_C4;
    if (c0 >= len4) break;  // uniform
    const uint clen = min(FN_C4, len4 - c0);
    barrier();  // the previous chunk is consumed (and x_block written, on the first pass)
    [[unroll]] for (uint m = 0u; m < FN_PER; ++m) {
      const uint i = t + 256u * m, o = i / FN_C4, j = i % FN_C4;
      if (o < outputs && j < clen) {
        const uint at = o * FN_ROW + 4u * j;
        hc_scratch[at] = fnv[c][m].x;
        hc_scratch[at + 1u] = fnv[c][m].y;
        hc_scratch[at + 2u] = fnv[c][m].z;
        hc_scratch[at + 3u] = fnv[c][m].w;
      }
    }
    barrier();
    if (t < outputs) {
      for (uint j = 0u; j < 4u * clen; ++j) part += hc_scratch[t * FN_ROW + j] * x_block[4u * c0 + j];
    }
  }
  return part;
}

void main() {
  const uint b = gl_WorkGroupID.x, row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;  // uniform: the whole row's workgroups leave
  if (COMBINE) moe_combine_order(row, p.topk);
  const uint n = p.hc, width = n * p.dim, outputs = (2u + n) * n, blocks = gl_NumWorkGroups.x;
  const uint begin = b * BLOCK_K, len = min(width, begin + BLOCK_K) - begin;
  vec4 fnv[FN_CHUNKS][FN_PER];
  load_fn(begin, len, outputs, fnv);
  // Every post value of the invocation before any store: a store between them would keep the
  // next value's loads from issuing (the bindings may alias).
  const uint PER_T = BLOCK_K / 256u;
  float v[PER_T];
  [[unroll]] for (uint m = 0u; m < PER_T; ++m) v[m] = t + 256u * m < len ? post_value(row, begin + t + 256u * m) : 0.0;
  [[unroll]] for (uint m = 0u; m < PER_T; ++m) {
    const uint i = t + 256u * m;
    if (i < len) {
      xs[row * width + begin + i] = v[m];
      x_block[i] = v[m];
    }
  }
  const float part = block_dot(len, outputs, fnv);
  if (t < outputs) partials[(row * outputs + t) * blocks + b] = part;
  if (!TAIL) {  // the block's sum of squares, one node of the tree hc_pre_split adds up
    pw_from_block = true;  // the new values in x_block (block_dot's barriers made them visible)
    const float sq = pairwise_sum_wg(len, p.node_depth);
    if (t == 0u) partials[p.node_base + row * p.nodes + b] = sq;
    return;
  }
  memoryBarrierBuffer();  // the new streams and partials are visible before this workgroup counts itself done
  barrier();
  if (t == 0u) last_of_row = atomicAdd(counters[row], 1u) == blocks - 1u;
  barrier();
  if (!last_of_row) return;  // uniform over the workgroup
  memoryBarrierBuffer();
  if (t == 0u) counters[row] = 0u;
  hc_pre_row(row, true, true);
}
