#version 450
// The softmax weights of prefill sparse attention as exact fp16 for pv_coopmat.comp, once per
// (row, head) instead of once per 128-dim P.V workgroup (each took exp of all the row's scores
// again: four times a row at head_dim 512). From scores_coopmat.comp's scores and 32-key tile
// maxima: m = the row's max score per head, p = bf16(exp(s - m)) (0 for masked keys, s = -inf),
// stored as p * 2^15 (exact in fp16 down to p = 2^-32), and den = sum exp(s - m) + exp(sink - m),
// the reference's softmax denominator (summed in another order: per lane, then across lanes).
//   p16 [max_rows, HP, KP] fp16: HP = n_heads up to 64, KP = max_keys up to 32; zeros past each
//   head's keys and for heads past n_heads. den [max_rows, n_heads] fp32.
// Workgroup: 256 threads, one row's 64-head group; each subgroup takes a head at a time, its lanes
// two consecutive keys each (one word of p16). Grid: (HP / 64, max_rows).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 1) readonly buffer Scores { float scores[]; };     // [max_rows][n_heads][max_keys]
layout(std430, set = 0, binding = 2) readonly buffer TileMax { float tile_max[]; };  // [max_rows][n_heads][tiles]
layout(std430, set = 0, binding = 3) readonly buffer Sink { float attn_sink[]; };
layout(std430, set = 0, binding = 4) writeonly buffer P16 { uint p16[]; };          // pairs of fp16
layout(std430, set = 0, binding = 5) writeonly buffer Den { float den[]; };

// sparse_attention.comp's push constants.
layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, window;
  uint ratio, entries_per_seq, index_topk, n_splits;
  uint rope_slot;
  float scale;
  uint max_keys;
} pc;

#include "attention_rows.glsl"

const uint HG = 64u, SCORE_TILE = 32u, KC = 32u;  // heads per workgroup, decode_pv.comp's tile, pv_coopmat.comp's chunk
const float NEG_INF = -1.0 / 0.0;

void main() {
  const uint h0 = gl_WorkGroupID.x * HG, row = gl_WorkGroupID.y;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  const uint nk = n_keys(row), lane = gl_SubgroupInvocationID, width = gl_SubgroupSize;
  const uint hp = (pc.n_heads + HG - 1u) / HG * HG, kp = (pc.max_keys + KC - 1u) / KC * KC;
  const uint tiles = (nk + SCORE_TILE - 1u) / SCORE_TILE, stride = (pc.max_keys + SCORE_TILE - 1u) / SCORE_TILE;
  for (uint h = h0 + gl_SubgroupID; h < h0 + HG; h += gl_NumSubgroups) {  // uniform per subgroup
    const uint out_row = (row * hp + h) * kp / 2u;
    if (h >= pc.n_heads) {
      for (uint w = lane; w < kp / 2u; w += width) p16[out_row + w] = 0u;
      continue;
    }
    const uint srow = (row * pc.n_heads + h) * pc.max_keys;
    float m = NEG_INF;
    for (uint s = lane; s < tiles; s += width) m = max(m, tile_max[(row * pc.n_heads + h) * stride + s]);
    m = subgroupMax(m);
    float sum = 0.0;
    for (uint w = lane; w < kp / 2u; w += width) {
      vec2 p = vec2(0.0);
      for (uint i = 0u; i < 2u; ++i) {
        const uint j = 2u * w + i;
        const float s = j < nk ? scores[srow + j] : NEG_INF;
        const float e = s == NEG_INF ? 0.0 : exp(s - m);
        sum += e;
        p[i] = round_bf16(e) * 32768.0;
      }
      p16[out_row + w] = packHalf2x16(p);
    }
    sum = subgroupAdd(sum);
    if (subgroupElect()) den[row * pc.n_heads + h] = sum + exp(attn_sink[h] - m);
  }
}
