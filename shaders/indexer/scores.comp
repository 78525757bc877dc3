#version 450
// Lightning-indexer scores (model-spec §3.5.5 step 4; oracle graph::index_scores): for each row
// and each visible index key c < (pos + 1) / ratio of the row's sequence,
//   I[c] = bf16( sum_h bf16( ReLU(bf16(q_h . K_c)) * w_h ) )
// with every dot summed over i in order and the heads in order (no contraction), as the
// reference does, so scores are bit-identical. One invocation per key: it decodes its FP4 key once
// into registers; the row's queries (bf16 values after the FP4 round-trip) sit packed in shared
// memory, loaded once per TILES * WG keys. Grid: (ceil(max_entries / (TILES * WG)), max_rows);
// rows >= n_rows and keys >= visible skip.
#extension GL_GOOGLE_include_directive : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "formats.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(constant_id = 0) const uint HEADS = 64u;
layout(constant_id = 1) const uint DIM = 128u;  // multiple of 32
const uint WG = 64u;
const uint TILES = 4u;  // keys per invocation: amortises the query load (HEADS * DIM floats)
layout(local_size_x = 64) in;

layout(std430, binding = 1) readonly buffer Q { float q[]; };        // [max_rows, HEADS * DIM]
layout(std430, binding = 2) readonly buffer W { float w[]; };        // [max_rows, HEADS]
layout(std430, binding = 3) readonly buffer Keys { uint keys[]; };   // [seqs][max_entries][entry]
layout(std430, binding = 4) writeonly buffer Scores { float scores[]; };  // [max_rows, max_entries]

layout(push_constant) uniform Params {
  uint max_entries;
  uint ratio;
} p;

shared uint q_bf16[HEADS * DIM / 2u];  // two bf16 per word: 16 KiB at HEADS 64, DIM 128
shared float w_s[HEADS];

void main() {
  const uint row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint visible = min((uint(step.rows[row].pos) + 1u) / p.ratio, p.max_entries);
  const uint c0 = gl_WorkGroupID.x * WG * TILES;
  if (c0 >= visible) return;
  for (uint i = t; i < HEADS * DIM / 2u; i += WG) {
    const uint b = row * HEADS * DIM + 2u * i;
    q_bf16[i] = float_to_bf16(q[b]) | (float_to_bf16(q[b + 1u]) << 16);
  }
  for (uint h = t; h < HEADS; h += WG) w_s[h] = w[row * HEADS + h];
  barrier();
  const uint words = index_entry_bytes(DIM) / 4u;
  const uint seq = uint(step.rows[row].seq);
  for (uint tile = 0u; tile < TILES; ++tile) {
    const uint c = c0 + tile * WG + t;
    if (c >= visible) return;
    const uint base = (seq * p.max_entries + c) * words;
    float k[DIM];
    for (uint blk = 0u; blk < DIM / 32u; ++blk) {
      const uint sb = DIM / 2u + blk;  // scale byte
      const int e = e8m0_exponent(byte_in_word(keys[base + sb / 4u], sb));
      for (uint j = 0u; j < 4u; ++j) {
        const uint word = keys[base + blk * 4u + j];
        for (uint n = 0u; n < 8u; ++n) k[blk * 32u + j * 8u + n] = ldexp(e2m1_to_float(nibble_in_word(word, n)), e);
      }
    }
    precise float total = 0.0;
    for (uint h = 0u; h < HEADS; ++h) {
      precise float dot = 0.0;
      for (uint i = 0u; i < DIM; i += 2u) {
        const uint qq = q_bf16[(h * DIM + i) / 2u];
        precise float a = bf16_to_float(qq & 0xffffu) * k[i];
        dot += a;
        precise float b = bf16_to_float(qq >> 16) * k[i + 1u];
        dot += b;
      }
      const float relu = max(round_bf16(dot), 0.0);
      precise float hw = relu * w_s[h];
      total += round_bf16(hw);
    }
    scores[row * p.max_entries + c] = round_bf16(total);
  }
}
