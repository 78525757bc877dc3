// graph::pairwise_sum (graph/reduce.h) over one workgroup of 256 invocations, bit for bit: the
// recursion's leaves (<= 8 terms, summed in order) sit at depth <= `depth` of a binary tree whose
// node (begin, n) has children (begin, n/2) and (begin + n/2, n - n/2); a leaf reached early is
// carried down as its first descendant, its other descendants being 0 (x + 0 == x exactly). Each
// invocation reduces a complete subtree of slots in registers, then the workgroup reduces the
// subtree sums pairwise in shared memory. Needs 2^depth <= 4096, i.e. n <= 32768.
//
// Usage: #define PAIRWISE_TERM(i) <float expression of uint i>, then pairwise_sum_wg(n, depth);
// every invocation of the workgroup must call it (it has barriers) and gets the sum.
// Included by norm/, mhc/ and attention/ kernels (every *.glsl is a build dependency of every shader).
#ifndef DSV4_PAIRWISE_GLSL
#define DSV4_PAIRWISE_GLSL

const uint PW_GROUP = 256u;
#ifndef PW_MAX_SLOTS
#define PW_MAX_SLOTS 4096u  // a user summing shorter ranges may define less (shared memory)
#endif
#ifndef PW_HOIST
#define PW_HOIST 1u  // leaf slots per invocation per pass (their loads issued together)
#endif
shared float pw_tree[2u * PW_GROUP];
#ifndef PW_SLOTS_ARRAY
shared float pw_slots[PW_MAX_SLOTS];
#else  // a kernel short of shared memory lends an array of >= 2^depth floats, free while summing
#define pw_slots PW_SLOTS_ARRAY
#endif

float pw_slot(uint n, uint depth, uint j) {
  uint begin = 0u, size = n;
  for (uint level = 0u; level < depth; ++level) {
    const uint bit = (j >> (depth - 1u - level)) & 1u;
    if (size <= 8u) {
      if (bit != 0u) return 0.0;
      continue;
    }
    const uint half_n = size / 2u;
    if (bit == 0u) {
      size = half_n;
    } else {
      begin += half_n;
      size -= half_n;
    }
  }
  // A leaf has at most 8 terms: fetch them all before summing (in order), so its loads are in
  // flight together instead of one memory latency per term.
  float term[8];
  for (uint i = 0u; i < 8u; ++i) term[i] = i < size ? PAIRWISE_TERM(begin + i) : 0.0;
  precise float s = 0.0;
  for (uint i = 0u; i < 8u; ++i) {
    if (i < size) s += term[i];
  }
  return s;
}

// The top of the tree: a group's `owners` subtree sums, lane l's at pw_tree[g0 + l], added
// pairwise in shared memory (ping-ponging between pw_tree's halves); every invocation of the
// workgroup calls it and gets its group's total.
float pw_tree_sum(uint owners, uint l, uint g0) {
  uint src = 0u, dst = PW_GROUP;
  for (uint w = owners; w > 1u; w /= 2u) {
    barrier();
    if (l < w / 2u) {
      precise float s = pw_tree[src + g0 + 2u * l] + pw_tree[src + g0 + 2u * l + 1u];
      pw_tree[dst + g0 + l] = s;
    }
    const uint tmp = src;
    src = dst;
    dst = tmp;
  }
  barrier();
  return pw_tree[src + g0];
}

float pairwise_sum_wg(uint n, uint depth) {
  const uint t = gl_LocalInvocationID.x;
  const uint slots = 1u << depth;
  const uint per = slots > PW_GROUP ? slots / PW_GROUP : 1u;  // power of two <= 16
  const uint owners = slots / per;
  barrier();  // pw_tree and pw_slots may still be read by a previous call
  // The leaves first, consecutive slots on consecutive invocations so that a subgroup's loads
  // cover one contiguous range (an invocation walking its own subtree's terms made every load
  // instruction touch as many cache lines as the subgroup has invocations: ~10 us for 16K terms
  // on an H100). The sums and their order are unchanged.
  for (uint j0 = t; j0 < slots; j0 += PW_GROUP * PW_HOIST) {
    // PW_HOIST slots per pass, all their loads in flight together (a user whose terms come from
    // a cache, not registers, pays one round trip per pass).
    float leaf[PW_HOIST];
    for (uint h = 0u; h < PW_HOIST; ++h) leaf[h] = j0 + PW_GROUP * h < slots ? pw_slot(n, depth, j0 + PW_GROUP * h) : 0.0;
    for (uint h = 0u; h < PW_HOIST; ++h) {
      if (j0 + PW_GROUP * h < slots) pw_slots[j0 + PW_GROUP * h] = leaf[h];
    }
  }
  barrier();
  if (t < owners) {
    float v[16];
    for (uint i = 0u; i < per; ++i) v[i] = pw_slots[t * per + i];
    for (uint w = per; w > 1u; w /= 2u) {
      for (uint i = 0u; i < w / 2u; ++i) {
        precise float s = v[2u * i] + v[2u * i + 1u];
        v[i] = s;
      }
    }
    pw_tree[t] = v[0];
  }
  return pw_tree_sum(owners, t, 0u);
}

// pairwise_sum_wg's sums for several ranges at once: the workgroup's invocations in groups of
// `size` (a power of two dividing 256), each group summing its own terms (PAIRWISE_TERM reads the
// invocation's own state, e.g. a per-row base), each lane a complete subtree of consecutive slots
// in registers, then the group's subtree sums pairwise in shared memory. The same tree, so the same
// sums bit for bit, in log2(size) barriers for every group together where pairwise_sum_wg takes
// one call, with its barriers, per range. Needs 2^depth <= 16 * size; every invocation calls it.
float pairwise_sum_groups(uint n, uint depth, uint size) {
  const uint t = gl_LocalInvocationID.x, l = t % size, g0 = t - l;
  const uint slots = 1u << depth;
  const uint per = slots > size ? slots / size : 1u;  // power of two <= 16
  const uint owners = slots / per;
  barrier();  // pw_tree may still be read by a previous call
  if (l < owners) {
    float v[16];
    for (uint i = 0u; i < per; ++i) v[i] = pw_slot(n, depth, l * per + i);
    for (uint w = per; w > 1u; w /= 2u) {
      for (uint i = 0u; i < w / 2u; ++i) {
        precise float s = v[2u * i] + v[2u * i + 1u];
        v[i] = s;
      }
    }
    pw_tree[g0 + l] = v[0];
  }
  return pw_tree_sum(owners, l, g0);
}

#endif  // DSV4_PAIRWISE_GLSL
