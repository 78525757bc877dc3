#version 450
// Lightning-indexer selection (model-spec §3.5.5 steps 5-6; oracle graph::topk_indices): per row,
// the k = min(topk, visible) best scores, best first, ties to the lower index, then -1.
// Scores are bf16 values, so a score's order is that of a 16-bit key (the bf16 bits made
// monotonic): two 256-bin histogram passes find the exact threshold key T of the k-th best;
// keys > T (fewer than k) are gathered in any order, keys == T in index order (each subgroup
// scans a contiguous span; its earlier spans' tie counts and ballots rank them), and a bitonic
// sort of the <= topk survivors writes the result (a rank sort, each survivor counting those
// before it, took 38 of the 46 us of a 4K-context row on an H100). One workgroup per row; memory
// traffic is 3-4 reads of the row's scores, independent of topk. Decode rows are latency-bound
// (a 4K context has 1,024 scores): 1,024 invocations per row, and the threshold bin is found with
// a parallel suffix sum of the histogram instead of one invocation walking the bins. (Counting
// the histograms in 8 copies against shared-atomic contention measured no faster on an H100.)
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"

layout(constant_id = 0) const uint TOPK = 512u;    // index_topk
layout(constant_id = 1) const uint SORT_N = 512u;  // the power of two >= TOPK (graph/vulkan/indexer.cpp)
const uint WG = 1024u;
const uint BINS = 256u;
layout(local_size_x = 1024) in;

layout(std430, binding = 1) readonly buffer Scores { float scores[]; };  // [max_rows, max_entries]
layout(std430, binding = 2) writeonly buffer Sel { int sel[]; };         // [max_rows, TOPK]

layout(push_constant) uniform Params {
  uint max_entries;
  uint ratio;
} p;

shared uint hist[BINS];
shared uint scan[WG];
shared uint found_bin, found_above, n_gt;
shared uint cand_key[SORT_N];
shared int cand_idx[SORT_N];

// Monotonic 16-bit key of a bf16 score; -0 counts as +0 (the reference compares with ==).
uint order_key(float s) {
  const uint u = floatBitsToUint(s == 0.0 ? 0.0 : s);
  return (((u & 0x80000000u) != 0u) ? ~u : (u | 0x80000000u)) >> 16;
}

// Survivor (ka, ia) goes before (kb, ib): the higher key, on equal keys the lower index.
bool before(uint ka, int ia, uint kb, int ib) { return ka > kb || (ka == kb && ia < ib); }

// The bin holding the k-th best among hist (counting from the top) given `above` better keys
// outside it; publishes the bin and the count of keys above it. scan[b] becomes the count of
// keys in bins >= b (Hillis-Steele); exactly one bin has above + scan[b + 1] < k <= above +
// scan[b] (k <= total, and an empty bin cannot satisfy both).
void find_bin(uint k, uint above) {
  const uint t = gl_LocalInvocationID.x;
  if (t < BINS) scan[t] = hist[t];
  barrier();
  for (uint off = 1u; off < BINS; off *= 2u) {
    const uint v = t + off < BINS ? scan[t + off] : 0u;
    barrier();
    if (t < BINS) scan[t] += v;
    barrier();
  }
  if (t < BINS) {
    const uint incl = above + scan[t], excl = incl - hist[t];
    if (excl < k && incl >= k) {
      found_bin = t;
      found_above = excl;
    }
  }
  barrier();
}

void main() {
  const uint row = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint visible = min((uint(step.rows[row].pos) + 1u) / p.ratio, p.max_entries);
  const uint k = min(TOPK, visible);
  const uint base = row * p.max_entries;
  if (k == 0u) {
    for (uint i = t; i < TOPK; i += WG) sel[row * TOPK + i] = -1;
    return;
  }
  // Pass 1: high byte of the key.
  if (t < BINS) hist[t] = 0u;
  if (t == 0u) n_gt = 0u;
  barrier();
  for (uint c = t; c < visible; c += WG) atomicAdd(hist[order_key(scores[base + c]) >> 8], 1u);
  barrier();
  find_bin(k, 0u);
  const uint hi = found_bin, above_hi = found_above;
  barrier();
  // Pass 2: low byte within the high-byte bin.
  if (t < BINS) hist[t] = 0u;
  barrier();
  for (uint c = t; c < visible; c += WG) {
    const uint key = order_key(scores[base + c]);
    if ((key >> 8) == hi) atomicAdd(hist[key & 0xffu], 1u);
  }
  barrier();
  find_bin(k, above_hi);
  const uint T = (hi << 8) | found_bin, count_gt = found_above, need = k - count_gt;
  barrier();
  // Pass 3: keys > T anywhere; count each subgroup's ties. A subgroup scans one contiguous span
  // of keys, its lanes reading consecutive keys (coalesced), so the ties' index order is span
  // order, then step order, then lane order.
  const uint lanes = gl_SubgroupSize, team = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint span = ((visible + gl_NumSubgroups - 1u) / gl_NumSubgroups + lanes - 1u) / lanes * lanes;
  const uint begin = min(team * span, visible), end = min(begin + span, visible);
  uint ties = 0u;  // the subgroup's, uniform
  for (uint c0 = begin; c0 < end; c0 += lanes) {
    const uint c = c0 + lane;
    const uint key = c < end ? order_key(scores[base + c]) : 0u;
    if (c < end && key > T) {
      const uint slot = atomicAdd(n_gt, 1u);
      cand_key[slot] = key;
      cand_idx[slot] = int(c);
    }
    ties += subgroupBallotBitCount(subgroupBallot(c < end && key == T));
  }
  if (subgroupElect()) scan[team] = ties;
  barrier();
  // Pass 4: the first `need` ties in index order; the ties of earlier spans come first.
  uint rank = 0u;
  for (uint g = 0u; g < team; ++g) rank += scan[g];
  for (uint c0 = begin; c0 < end && rank < need; c0 += lanes) {
    const uint c = c0 + lane;
    const bool tie = c < end && order_key(scores[base + c]) == T;
    const uvec4 ballot = subgroupBallot(tie);
    const uint r = rank + subgroupBallotExclusiveBitCount(ballot);
    if (tie && r < need) {
      cand_key[count_gt + r] = T;
      cand_idx[count_gt + r] = int(c);
    }
    rank += subgroupBallotBitCount(ballot);
  }
  barrier();
  // Bitonic sort of the survivors, best first; slots k .. SORT_N - 1 are padding that sorts last.
  for (uint i = k + t; i < SORT_N; i += WG) {
    cand_key[i] = 0u;
    cand_idx[i] = 0x7fffffff;
  }
  barrier();
  for (uint size = 2u; size <= SORT_N; size *= 2u)
    for (uint stride = size / 2u; stride > 0u; stride /= 2u) {
      for (uint i = t; i < SORT_N / 2u; i += WG) {
        const uint lo = 2u * i - (i & (stride - 1u)), hi = lo + stride;
        const uint k_lo = cand_key[lo], k_hi = cand_key[hi];
        const int i_lo = cand_idx[lo], i_hi = cand_idx[hi];
        const bool forward = (lo & size) == 0u;  // this block sorts best first
        if (forward == before(k_hi, i_hi, k_lo, i_lo)) {
          cand_key[lo] = k_hi;
          cand_idx[lo] = i_hi;
          cand_key[hi] = k_lo;
          cand_idx[hi] = i_lo;
        }
      }
      barrier();
    }
  for (uint i = t; i < TOPK; i += WG) sel[row * TOPK + i] = i < k ? cand_idx[i] : -1;
}
