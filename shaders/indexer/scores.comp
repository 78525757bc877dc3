#version 450
// Lightning-indexer scores (model-spec §3.5.5 step 4; oracle graph::index_scores): for each row
// and each visible index key c < (pos + 1) / ratio of the row's sequence,
//   I[c] = bf16( sum_h bf16( ReLU(bf16(q_h . K_c)) * w_h ) )
// with every dot summed over i in order and the heads in order (no contraction), as the
// reference does, so scores are bit-identical.
// The in-order dots are chains of dependent adds, so an invocation runs KPT = 4 of them at once:
// one head's dots with four keys of a tile of KT keys (KT = 4 * UNITS, UNITS = key groups per
// tile, host-chosen so UNITS * HEADS invocations are busy). It reads 8 dims of its query (one
// 16-byte load of packed bf16) and of each key (two 16-byte broadcasts) per step: one shared load
// per 3.6 products, where one load per product made the kernel shared-memory-bound at 1M context.
// The row's queries (bf16 values after the FP4 round-trip) sit packed in shared memory, rows
// padded to 68 words so that lanes reading different heads hit distinct banks; each tile's FP4
// keys are decoded once into shared floats. The invocation of (head, key) leaves
// bf16(ReLU(bf16(dot)) * w_h) in shared memory, and KT invocations then add the heads in order.
// A workgroup walks key tiles g, g + G, g + 2G, ... (G = gl_NumWorkGroups.x), so long contexts
// reuse each workgroup's query load over many tiles.
// Grid: (G, max_rows); rows >= n_rows and tiles >= visible skip.
#extension GL_GOOGLE_include_directive : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(constant_id = 0) const uint HEADS = 64u;
layout(constant_id = 1) const uint DIM = 128u;  // multiple of 32
layout(constant_id = 2) const uint UNITS = 4u;  // key groups per tile (graph/vulkan/indexer.cpp)
const uint KPT = 4u;                            // keys per invocation
const uint KT = KPT * UNITS;                    // keys per tile
const uint WG = 256u;
const uint QSTRIDE4 = DIM / 8u + 1u;            // uvec4 per head in q_s (8 bf16 each, one pad)
layout(local_size_x = 256) in;

layout(std430, binding = 1) readonly buffer Q { float q[]; };        // [max_rows, HEADS * DIM]
layout(std430, binding = 2) readonly buffer W { float w[]; };        // [max_rows, HEADS]
layout(std430, binding = 3) readonly buffer Keys { uint keys[]; };   // [seqs][max_entries][entry]
layout(std430, binding = 4) writeonly buffer Scores { float scores[]; };  // [max_rows, max_entries]

layout(push_constant) uniform Params {
  uint max_entries;
  uint ratio;
} p;

shared uvec4 q_s[HEADS * QSTRIDE4];  // packed bf16 pairs, 8 dims per uvec4
shared float w_s[HEADS];
shared float hw_s[KT * HEADS];       // [key of the tile][head]
shared vec4 k_s[KT * DIM / 4u];      // the tile's decoded keys

// Dims 8 * g .. 8 * g + 7 of the key whose entry starts at word `base` -> key kk of k_s (exact:
// e2m1 times a power of two).
void decode_key_word(uint kk, uint base, uint g) {
  const uint blk = g / 4u, sb = DIM / 2u + blk;  // 32-dim block and its scale byte
  const int e = e8m0_exponent(byte_in_word(keys[base + sb / 4u], sb));
  const uint word = keys[base + g];
  vec4 lo, hi;
  for (uint n = 0u; n < 4u; ++n) {
    lo[n] = ldexp(e2m1_to_float(nibble_in_word(word, n)), e);
    hi[n] = ldexp(e2m1_to_float(nibble_in_word(word, n + 4u)), e);
  }
  k_s[kk * (DIM / 4u) + 2u * g] = lo;
  k_s[kk * (DIM / 4u) + 2u * g + 1u] = hi;
}

// dot += q * k one product at a time, in dim order (precise: no fused multiply-add).
void add_products(inout precise float dot, vec4 qv, vec4 kv) {
  precise float a = qv.x * kv.x;
  dot += a;
  precise float b = qv.y * kv.y;
  dot += b;
  precise float c = qv.z * kv.z;
  dot += c;
  precise float d = qv.w * kv.w;
  dot += d;
}

vec4 unpack_bf16x4(uint lo, uint hi) {
  return vec4(bf16_to_float(lo & 0xffffu), bf16_to_float(lo >> 16), bf16_to_float(hi & 0xffffu), bf16_to_float(hi >> 16));
}

// bf16(ReLU(bf16(q_h . K)) * w_h) for keys kg * KPT .. kg * KPT + KPT - 1 of the tile -> hw_s.
void head_terms(uint h, uint kg) {
  precise float dot[KPT];
  for (uint k = 0u; k < KPT; ++k) dot[k] = 0.0;
  for (uint i = 0u; i < DIM / 8u; ++i) {
    const uvec4 qq = q_s[h * QSTRIDE4 + i];
    const vec4 qa = unpack_bf16x4(qq.x, qq.y), qb = unpack_bf16x4(qq.z, qq.w);
    for (uint k = 0u; k < KPT; ++k) {
      const uint at = (kg * KPT + k) * (DIM / 4u) + 2u * i;
      add_products(dot[k], qa, k_s[at]);
      add_products(dot[k], qb, k_s[at + 1u]);
    }
  }
  for (uint k = 0u; k < KPT; ++k) {
    const float relu = max(round_bf16(dot[k]), 0.0);
    precise float hw = relu * w_s[h];
    hw_s[(kg * KPT + k) * HEADS + h] = round_bf16(hw);
  }
}

void main() {
  const uint row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x, G = gl_NumWorkGroups.x;
  if (row >= step.n_rows) return;
  const uint visible = min((uint(step.rows[row].pos) + 1u) / p.ratio, p.max_entries);
  if (gl_WorkGroupID.x * KT >= visible) return;  // uniform: no tile of this workgroup is visible
  for (uint i = t; i < HEADS * DIM / 8u; i += WG) {
    const uint b = row * HEADS * DIM + 8u * i, h = i / (DIM / 8u);
    uvec4 packed;
    for (uint n = 0u; n < 4u; ++n) packed[n] = float_to_bf16(q[b + 2u * n]) | (float_to_bf16(q[b + 2u * n + 1u]) << 16);
    q_s[h * QSTRIDE4 + i % (DIM / 8u)] = packed;
  }
  for (uint h = t; h < HEADS; h += WG) w_s[h] = w[row * HEADS + h];
  barrier();
  const uint words = index_entry_bytes(DIM) / 4u;
  const uint seq = uint(step.rows[row].seq);
  for (uint c0 = gl_WorkGroupID.x * KT; c0 < visible; c0 += G * KT) {
    for (uint u = t; u < KT * DIM / 8u; u += WG) {  // one FP4 word (8 dims) per step
      const uint kk = u / (DIM / 8u), c = min(c0 + kk, visible - 1u);  // past visible: a copy, unused
      decode_key_word(kk, (seq * p.max_entries + c) * words, u % (DIM / 8u));
    }
    barrier();  // k_s complete
    for (uint unit = t; unit < UNITS * HEADS; unit += WG) head_terms(unit % HEADS, unit / HEADS);
    barrier();  // hw_s complete
    if (t < KT && c0 + t < visible) {
      precise float total = 0.0;
      for (uint h = 0u; h < HEADS; ++h) total += hw_s[t * HEADS + h];
      scores[row * p.max_entries + c0 + t] = round_bf16(total);
    }
    barrier();  // hw_s and k_s free for the next tile
  }
}
