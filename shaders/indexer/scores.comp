#version 450
// Lightning-indexer scores (model-spec §3.5.5 step 4; oracle graph::index_scores): for each row
// and each visible index key c < (pos + 1) / ratio of the row's sequence,
//   I[c] = bf16( sum_h bf16( ReLU(bf16(q_h . K_c)) * w_h ) )
// with every dot summed over i in order and the heads in order (no contraction), as the
// reference does, so scores are bit-identical.
// Decode is latency-bound (a 4K context has only 1,024 keys), so the parallelism is over
// (key, head) pairs, not keys: an invocation runs one head's in-order dot for one key of a tile
// of KT keys (KT * HEADS pairs per tile), leaves bf16(ReLU(bf16(dot)) * w_h) in shared memory, and
// KT invocations then add the heads in order. The row's queries (bf16 values after the FP4
// round-trip) sit packed in shared memory with a one-word pad per head so that a subgroup's
// heads hit distinct banks; each tile's FP4 keys are decoded once into shared floats (not once
// per head: on an H100 the per-head decode made 1M contexts ALU-bound), read as broadcasts by
// the invocations of a key. A workgroup walks key tiles g, g + G, g + 2G, ...
// (G = gl_NumWorkGroups.x), so long contexts reuse each workgroup's query load over many tiles.
// Grid: (G, max_rows); rows >= n_rows and tiles >= visible skip.
#extension GL_GOOGLE_include_directive : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(constant_id = 0) const uint HEADS = 64u;
layout(constant_id = 1) const uint DIM = 128u;  // multiple of 32
layout(constant_id = 2) const uint KT = 4u;     // keys per tile: max(1, WG / HEADS)
const uint WG = 256u;
const uint QSTRIDE = DIM / 2u + 1u;  // words per head in q_bf16 (odd: conflict-free across heads)
layout(local_size_x = 256) in;

layout(std430, binding = 1) readonly buffer Q { float q[]; };        // [max_rows, HEADS * DIM]
layout(std430, binding = 2) readonly buffer W { float w[]; };        // [max_rows, HEADS]
layout(std430, binding = 3) readonly buffer Keys { uint keys[]; };   // [seqs][max_entries][entry]
layout(std430, binding = 4) writeonly buffer Scores { float scores[]; };  // [max_rows, max_entries]

layout(push_constant) uniform Params {
  uint max_entries;
  uint ratio;
} p;

shared uint q_bf16[HEADS * QSTRIDE];  // two bf16 per word
shared float w_s[HEADS];
shared float hw_s[KT * HEADS];        // [key of the tile][head]
shared float k_s[KT * DIM];           // the tile's decoded keys

// Dims 8 * g .. 8 * g + 7 of the key whose entry starts at word `base` -> k_s[kk * DIM + ...]
// (exact: e2m1 times a power of two).
void decode_key_word(uint kk, uint base, uint g) {
  const uint blk = g / 4u, sb = DIM / 2u + blk;  // 32-dim block and its scale byte
  const int e = e8m0_exponent(byte_in_word(keys[base + sb / 4u], sb));
  const uint word = keys[base + g];
  for (uint n = 0u; n < 8u; ++n) k_s[kk * DIM + 8u * g + n] = ldexp(e2m1_to_float(nibble_in_word(word, n)), e);
}

// bf16(ReLU(bf16(q_h . K)) * w_h) for key kk of the tile.
float head_term(uint h, uint kk) {
  precise float dot = 0.0;
  for (uint i = 0u; i < DIM; i += 2u) {
    const uint qq = q_bf16[h * QSTRIDE + i / 2u];
    precise float a = bf16_to_float(qq & 0xffffu) * k_s[kk * DIM + i];
    dot += a;
    precise float b = bf16_to_float(qq >> 16) * k_s[kk * DIM + i + 1u];
    dot += b;
  }
  const float relu = max(round_bf16(dot), 0.0);
  precise float hw = relu * w_s[h];
  return round_bf16(hw);
}

void main() {
  const uint row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x, G = gl_NumWorkGroups.x;
  if (row >= step.n_rows) return;
  const uint visible = min((uint(step.rows[row].pos) + 1u) / p.ratio, p.max_entries);
  if (gl_WorkGroupID.x * KT >= visible) return;  // uniform: no tile of this workgroup is visible
  for (uint i = t; i < HEADS * DIM / 2u; i += WG) {
    const uint b = row * HEADS * DIM + 2u * i, h = i / (DIM / 2u);
    q_bf16[h * QSTRIDE + i % (DIM / 2u)] = float_to_bf16(q[b]) | (float_to_bf16(q[b + 1u]) << 16);
  }
  for (uint h = t; h < HEADS; h += WG) w_s[h] = w[row * HEADS + h];
  barrier();
  const uint words = index_entry_bytes(DIM) / 4u;
  const uint seq = uint(step.rows[row].seq);
  for (uint c0 = gl_WorkGroupID.x * KT; c0 < visible; c0 += G * KT) {
    for (uint u = t; u < KT * DIM / 8u; u += WG) {  // one FP4 word (8 dims) per step
      const uint kk = u / (DIM / 8u), c = c0 + kk;
      if (c < visible) decode_key_word(kk, (seq * p.max_entries + c) * words, u % (DIM / 8u));
    }
    barrier();  // k_s complete
    for (uint pair = t; pair < KT * HEADS; pair += WG) {
      const uint kk = pair / HEADS, h = pair % HEADS;
      if (c0 + kk < visible) hw_s[pair] = head_term(h, kk);
    }
    barrier();  // hw_s complete
    if (t < KT && c0 + t < visible) {
      precise float total = 0.0;
      for (uint h = 0u; h < HEADS; ++h) total += hw_s[t * HEADS + h];
      scores[row * p.max_entries + c0 + t] = round_bf16(total);
    }
    barrier();  // hw_s and k_s free for the next tile
  }
}
