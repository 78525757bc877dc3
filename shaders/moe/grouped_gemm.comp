#version 450
#extension GL_GOOGLE_include_directive : require
// Grouped expert GEMM for prefill (model-spec §3.6, §4.2; oracle graph::expert_forward): the
// (row, slot) pairs sorted by expert (sort_*.comp) are cut into tiles of up to TILE_M pairs of one
// expert; workgroup (x, y) = tile x (the tile table, dispatched indirectly with the GPU-written
// tile count) times output rows [y * TILE_N, y * TILE_N + TILE_N). Each 32-column chunk of the
// expert's weight tile is decoded into shared memory once and used by all the tile's pairs (the
// point over the per-pair GEMV, which re-reads the weights for every pair); the pairs'
// act-quantised input rows are gathered beside it. The shared expert uses the same kernel with
// direct dispatch: tile x = step rows [x * TILE_M, x * TILE_M + TILE_M), slot topk.
//
// Numerics: each output is sum over chunks of scale(chunk) x (the 32 products of raw codes and
// inputs, summed in column order) - FP4: ldexp by the e8m0 exponent, FP8: the fp32 block scale
// (expert_scale.glsl), both exact for tiny scales. That sum depends only on the pair's own input
// row and the weights, never on the pair's place in its tile or the tile's other pairs, so the
// nondeterministic order of pairs within an expert (atomic scatter) cannot change any result.
//   MODE 0 (gate/up): A = w1, B = w3; h = bf16(weight * silu(min(g, L)) * clamp(u, -L, L)) with
//          g, u the bf16 linear outputs (as expert_gemv.comp).
//   MODE 1 (down):    A = w2; out = bf16(linear).
// Outputs go to row * (topk + 1) + slot of the per-(row, slot) scratch, as the GEMV path's do.
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 0;  // 0 FP4 (packed e2m1 + e8m0 per 32), 1 FP8 (e4m3 + fp32 128x128)
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint TILE_M = 32;  // sort_scan.comp's; the thread layout below needs 32
const uint TILE_N = 64u;
const uint KC = 32u;  // columns per chunk: one FP4 scale block, a quarter of an FP8 one

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "expert_scale.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) readonly buffer Tiles { uvec4 tiles[]; };
layout(std430, binding = 3) readonly buffer Pairs { uint pairs[]; };
layout(std430, binding = 4) readonly buffer In { float xin[]; };
layout(std430, binding = 5) readonly buffer WaData { uint wa[]; };
layout(std430, binding = 6) readonly buffer WaScale { uint wa_scale[]; };
layout(std430, binding = 7) readonly buffer WbData { uint wb[]; };
layout(std430, binding = 8) readonly buffer WbScale { uint wb_scale[]; };
layout(std430, binding = 9) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform Params {
  uint rows, cols;      // of one matrix [rows, cols]
  uint topk;            // route layout: per row k ids then k weights
  uint shared_expert;   // 1: expert 0 of the stack, slot topk, no routing weight, direct dispatch
  uint data_stride16;   // one matrix's bytes / 16
  uint scale_stride;    // one matrix's scale bytes
  float swiglu_limit;
  uint in_per_row;      // input rows per step row (1: x; k+1: h)
} p;

shared float xs[TILE_M][KC + 1];  // +1: the threads of one output column read distinct banks
shared float wsa[TILE_N][KC + 1];
shared float wsb[TILE_N][KC + 1];  // unused in MODE 1
shared uint sca[TILE_N], scb[TILE_N];  // per weight row: FP4 e8m0 byte, FP8 fp32 scale bits
shared uint in_row[TILE_M], out_row[TILE_M];
shared float pair_weight[TILE_M];

// Decodes weight row n0 + n, columns [k0, k0 + KC), of matrix `m` of operand A or B into shared
// memory; each thread takes words lid, lid + 256, ... of the TILE_N x KC chunk. Rows past the
// matrix read its last row (their outputs are dropped).
void stage_weights(bool b, uint m, uint n0, uint k0) {
  const uint lid = gl_LocalInvocationID.x;
  const uint per_word = FORMAT == 0u ? 8u : 4u;
  const uint words_per_row = KC / per_word;
  const uint row_words = p.cols / per_word;
  const uint mbase = m * (p.data_stride16 * 4u);
  for (uint i = lid; i < TILE_N * words_per_row; i += 256u) {
    const uint n = i / words_per_row, w = i % words_per_row;
    const uint row = min(n0 + n, p.rows - 1u);
    const uint q = b ? wb[mbase + row * row_words + k0 / per_word + w] : wa[mbase + row * row_words + k0 / per_word + w];
    for (uint c = 0u; c < per_word; ++c) {
      const float v = FORMAT == 0u ? e2m1_to_float(q >> (4u * c)) : e4m3_to_float((q >> (8u * c)) & 0xffu);
      if (b) wsb[n][w * per_word + c] = v;
      else wsa[n][w * per_word + c] = v;
    }
    if (w == 0u) {
      uint s;
      if (FORMAT == 0u) {
        const uint si = m * p.scale_stride + row * (p.cols / 32u) + k0 / 32u;
        s = byte_in_word(b ? wb_scale[si >> 2] : wa_scale[si >> 2], si);
      } else {
        const uint si = m * (p.scale_stride / 4u) + (row / 128u) * ((p.cols + 127u) / 128u) + k0 / 128u;
        s = b ? wb_scale[si] : wa_scale[si];
      }
      if (b) scb[n] = s;
      else sca[n] = s;
    }
  }
}

float scaled(float dot, uint s) { return FORMAT == 0u ? times_pow2(dot, e8m0_exponent(s)) : times_scale(dot, s); }

float silu(float v) { return v / (1.0 + exp(-v)); }

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint k1 = p.topk + 1u;
  uint expert = 0u, first = 0u, count = 0u;
  if (p.shared_expert != 0u) {
    first = gl_WorkGroupID.x * TILE_M;
    if (first >= step.n_rows) return;
    count = min(TILE_M, step.n_rows - first);
  } else {
    const uvec4 t = tiles[gl_WorkGroupID.x];
    expert = t.x;
    first = t.y;
    count = t.z;
  }
  if (lid < TILE_M) {
    uint row = 0u, slot = p.topk;
    float weight = 1.0;
    if (lid < count) {
      if (p.shared_expert != 0u) {
        row = first + lid;
      } else {
        const uint pr = pairs[first + lid];
        row = pr / p.topk;
        slot = pr % p.topk;
        weight = uintBitsToFloat(route[row * 2u * p.topk + p.topk + slot]);
      }
    }
    in_row[lid] = p.in_per_row == 1u ? row : row * k1 + slot;
    out_row[lid] = row * k1 + slot;
    pair_weight[lid] = weight;
  }
  const uint n0 = gl_WorkGroupID.y * TILE_N;
  // Thread (tm, tn) computes pairs tm, tm + 16 and output rows tn + 16 j, j < 4.
  const uint tm = lid % 16u, tn = lid / 16u;
  float acc_a[2][4], acc_b[2][4];
  for (uint i = 0u; i < 2u; ++i)
    for (uint j = 0u; j < 4u; ++j) {
      acc_a[i][j] = 0.0;
      acc_b[i][j] = 0.0;
    }
  barrier();
  for (uint k0 = 0u; k0 < p.cols; k0 += KC) {
    for (uint i = lid; i < TILE_M * KC; i += 256u) {
      const uint m = i / KC, c = i % KC;
      xs[m][c] = m < count ? xin[in_row[m] * p.cols + k0 + c] : 0.0;
    }
    stage_weights(false, expert, n0, k0);
    if (MODE == 0u) stage_weights(true, expert, n0, k0);
    barrier();
    // The chunk's 2 x 4 (x 2) dots side by side: each shared value loaded once per column c feeds
    // 4 (or 8) FMAs; every dot still sums its 32 products in column order.
    float da[2][4], db[2][4];
    for (uint i = 0u; i < 2u; ++i)
      for (uint j = 0u; j < 4u; ++j) {
        da[i][j] = 0.0;
        db[i][j] = 0.0;
      }
    for (uint c = 0u; c < KC; ++c) {
      const float x0 = xs[tm][c], x1 = xs[tm + 16u][c];
      for (uint j = 0u; j < 4u; ++j) {
        const float wa_v = wsa[tn + 16u * j][c];
        da[0][j] += x0 * wa_v;
        da[1][j] += x1 * wa_v;
        if (MODE == 0u) {
          const float wb_v = wsb[tn + 16u * j][c];
          db[0][j] += x0 * wb_v;
          db[1][j] += x1 * wb_v;
        }
      }
    }
    for (uint i = 0u; i < 2u; ++i)
      for (uint j = 0u; j < 4u; ++j) {
        const uint n = tn + 16u * j;
        acc_a[i][j] += scaled(da[i][j], sca[n]);
        if (MODE == 0u) acc_b[i][j] += scaled(db[i][j], scb[n]);
      }
    barrier();
  }
  for (uint i = 0u; i < 2u; ++i)
    for (uint j = 0u; j < 4u; ++j) {
      const uint m = tm + 16u * i, r = n0 + tn + 16u * j;
      if (m >= count || r >= p.rows) continue;
      float v;
      if (MODE == 0u) {
        float g = round_bf16(acc_a[i][j]), u = round_bf16(acc_b[i][j]);
        if (p.swiglu_limit > 0.0) {
          u = clamp(u, -p.swiglu_limit, p.swiglu_limit);
          g = min(g, p.swiglu_limit);
        }
        v = silu(g) * u;
        if (p.shared_expert == 0u) v = pair_weight[m] * v;
      } else {
        v = acc_a[i][j];
      }
      outv[out_row[m] * p.rows + r] = round_bf16(v);
    }
}
