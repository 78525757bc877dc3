#version 450
// Finished KV rows -> the window ring in the native entry format (cache_layout.glsl), ring
// [seqs][window][entry], slot pos % window (model-spec §3.5.3). Only the rows among the last
// `window` of their sequence in this step are written: the sequence's rows are contiguous, so row r
// is one of them iff row r + window is past the step or belongs to another sequence.
// The encoding is lossless on the round-trip values (graph/vulkan/cache_layout.h explains the
// smallest-scale rule) and byte-identical to gpu::encode_kv_entry. One workgroup per row.
#extension GL_GOOGLE_include_directive : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 1) readonly buffer KV { float kv[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Ring { uint ring[]; };
layout(push_constant) uniform Push { uint head_dim, rope_dim, window; } pc;

const uint MAX_BLOCKS = 32;
shared int block_exp[MAX_BLOCKS];

// Smallest e with amax / 2^e <= 448 (amax = m 2^k: e = k - 8, plus one when m > 1.75).
int min_fp8_exponent(float amax) {
  if (!(amax > 0.0)) return 0;
  const uint u = floatBitsToUint(amax);
  const int k = int((u >> 23) & 0xffu) - 127;
  return clamp(k - 8 + ((u & 0x7fffffu) > 0x600000u ? 1 : 0), -127, 127);
}

uint entry_byte(uint base, uint b, uint nope) {
  if (b < nope) return e4m3_code(e4m3_round(ldexp(kv[base + b], -block_exp[b / 64u])));
  const uint scale_at = kv_scale_byte(nope, pc.rope_dim);
  if (b < scale_at) {
    const uint half_bits = float_to_bf16(kv[base + nope + (b - nope) / 2u]);
    return ((b - nope) & 1u) == 0u ? (half_bits & 0xffu) : (half_bits >> 8);
  }
  if (b < scale_at + (nope + 63u) / 64u) return e8m0_code(block_exp[b - scale_at]);
  return 0u;  // padding
}

void main() {
  const uint row = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint later = row + pc.window;
  if (later < step.n_rows && step.rows[later].first_row == step.rows[row].first_row) return;
  const uint base = row * pc.head_dim, nope = pc.head_dim - pc.rope_dim, blocks = (nope + 63u) / 64u;
  for (uint b = t; b < blocks; b += 64u) {
    float amax = 0.0;
    for (uint i = b * 64u; i < min(nope, b * 64u + 64u); ++i) amax = max(amax, abs(kv[base + i]));
    block_exp[b] = min_fp8_exponent(amax);
  }
  barrier();
  const StepRow r = step.rows[row];
  const uint words = kv_entry_bytes(nope, pc.rope_dim) / 4u;
  const uint slot = uint(r.seq) * pc.window + uint(r.pos) % pc.window;
  for (uint w = t; w < words; w += 64u) {
    uint word = 0u;
    for (uint j = 0u; j < 4u; ++j) word |= entry_byte(base, 4u * w + j, nope) << (8u * j);
    ring[slot * words + w] = word;
  }
}
