// Decode-sized linear layer y[m, row] = x[m, :] . w[row, :] for m < n_rows (graph/linear.h).
// Bandwidth-bound: every weight byte is read once per block of MAXM activation rows with 16-byte
// loads; the block's rows are reused from shared memory (FP8 act_quant) or the L1 cache. The
// blocks are gl_WorkGroupID.x (adjacent in dispatch order: a weight tile is fetched from memory
// once, its other blocks re-read it from L2), the weight tiles gl_WorkGroupID.z. A row's result
// does not depend on MAXM, RPT, KT or its position in the batch (each lane sums its chunks in
// ascending order, the 32 lanes in a fixed order), so decode is batch-size independent.
//
// Workgroup: 256 threads = 8 teams of 32; team i owns rows i, i+8, ... (RPT rows), its 32 lanes
// split K into 16-element chunks (lane, lane+32, ...) so a team reads whole rows contiguously
// (BF16: 4-element groups, so that the fp32 x rows are read contiguously too).
// Partial sums meet in shared memory (not subgroup ops: correct for every subgroup size).
// gl_WorkGroupID.y is the group of a grouped linear (wo_a): rows [g*R, (g+1)*R) read x columns
// [g*K, (g+1)*K).
//
// FP8 weights: e4m3 codes become fp16 by a shift (value * 2^-8, exact, subnormals included); with
// act_quant each 1x128 block of x becomes e4m3(x / 2^e) kept unscaled as fp16 (exact) plus e; a
// chunk's partial sum is scaled by the block's weight scale * 2^(8 + e) afterwards (powers of two:
// the same products as the reference, summed in another order).
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256) in;

layout(constant_id = 0) const uint FORMAT = 0;    // 0 FP8 (e4m3 + fp32 128x128 scales), 2 BF16, 3 F32
layout(constant_id = 1) const bool QUANT = true;  // FP8: quantise x per 1x128 block to e4m3 first
layout(constant_id = 2) const bool OUT_F32 = false;  // fp32 output (linear_fp32), else bf16
layout(constant_id = 3) const uint MAXM = 1;      // activation rows per block (<= 16)
layout(constant_id = 4) const uint RPT = 1;       // rows per team; RPT * MAXM <= 16
layout(constant_id = 5) const uint KT = 8192;     // K tile of the quantised x in shared (multiple of 512)
layout(constant_id = 6) const bool VEC = true;    // K % 16 == 0: 16-byte loads; else element loads
layout(constant_id = 7) const bool SCALED = false;  // y = bf16(bf16(acc) * out_scale)

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(std430, set = 0, binding = 2) readonly buffer W4 { uvec4 w4[]; };
layout(std430, set = 0, binding = 2) readonly buffer W1 { uint w1[]; };
layout(std430, set = 0, binding = 2) readonly buffer W2 { uvec2 w2[]; };
layout(std430, set = 0, binding = 3) readonly buffer WS { float wscale[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint R;           // rows per group (all rows when groups == 1) in this dispatch
  uint K;           // columns of the weight (per group)
  uint x_stride;    // floats per activation row (groups * K)
  uint y_stride;    // floats per output row
  uint scale_cols;  // ceil(K / 128): FP8 scale row stride
  uint row_base;    // first weight row of this dispatch (the w binding starts there)
  float out_scale;
} pc;

const uint TEAM = 32, TEAMS = 8, NR = TEAMS * RPT, UNROLL = 4, GROUP_UNROLL = 4;
const uint RED_STRIDE = 33;  // odd stride: the final per-output sums read distinct banks

// Quantised x tile (fp16 pairs of unscaled e4m3 values), reused for the final reduction.
shared uint xh[4224];
shared uint amax_bits[64];
shared int xe[64];

#include "linear_common.glsl"

float x_at(uint m, uint k, uint col0) { return x[m * pc.x_stride + col0 + k]; }

// Weight element k of row `row` (element loads: ragged K).
float w_elem(uint row, uint k) {
  const uint i = row * pc.K + k;
  if (FORMAT == 0u) return e4m3_to_float(byte_in_word(w1[i >> 2], i & 3u));
  if (FORMAT == 2u) return bf16_to_float(half_in_word(w1[i >> 1], i & 1u));
  return uintBitsToFloat(w1[i]);
}

// Partial dot of chunk c (elements 16c..16c+15) of `row` against activation row m, over fp32 x
// (no quantisation): F32 weights with 16-byte loads (VEC), or any format element by element
// (ragged K; FP8 in units of 2^-8 * scale, see header). FP8 and BF16 with VEC have their own loops.
float chunk_dot_x(uint row, uint c, uint m, uint col0) {
  float s = 0.0;
  const uint k0 = c * 16u;
  if (VEC) {
    const uint xb = (m * pc.x_stride + col0 + k0) >> 2;
    const uint b = (row * pc.K + k0) >> 2;
    s = dot(x4[xb], uintBitsToFloat(w4[b])) + dot(x4[xb + 1u], uintBitsToFloat(w4[b + 1u])) +
        dot(x4[xb + 2u], uintBitsToFloat(w4[b + 2u])) + dot(x4[xb + 3u], uintBitsToFloat(w4[b + 3u]));
  } else {
    const uint k1 = min(k0 + 16u, pc.K);
    for (uint k = k0; k < k1; ++k) {
      const float wv = w_elem(row, k);
      s += x_at(m, k, col0) * (FORMAT == 0u ? wv * 256.0 : wv);  // FP8 in units of 2^-8 like VEC
    }
  }
  return s;
}

// Partial dot of the loaded FP8 chunk q (chunk c) against fp32 x row m (units of 2^-8 * scale).
float chunk_dot_xq(uvec4 q, uint c, uint m, uint col0) {
  const uint xb = (m * pc.x_stride + col0 + c * 16u) >> 2;
  return dot(x4[xb], e4m3x4_scaled(q.x)) + dot(x4[xb + 1u], e4m3x4_scaled(q.y)) +
         dot(x4[xb + 2u], e4m3x4_scaled(q.z)) + dot(x4[xb + 3u], e4m3x4_scaled(q.w));
}

// Partial dot of chunk c of `row` (FP8, VEC) against the quantised tile row m (tile starts at k_tile).
float chunk_dot_q(uvec4 q, uint c, uint m, uint k_tile) {
  const uint h = m * (KT / 2u) + (c * 16u - k_tile) / 2u;
  vec4 s = e4m3x4_scaled(q.x) * vec4(unpackHalf2x16(xh[h]), unpackHalf2x16(xh[h + 1u]));
  s += e4m3x4_scaled(q.y) * vec4(unpackHalf2x16(xh[h + 2u]), unpackHalf2x16(xh[h + 3u]));
  s += e4m3x4_scaled(q.z) * vec4(unpackHalf2x16(xh[h + 4u]), unpackHalf2x16(xh[h + 5u]));
  s += e4m3x4_scaled(q.w) * vec4(unpackHalf2x16(xh[h + 6u]), unpackHalf2x16(xh[h + 7u]));
  return (s.x + s.y) + (s.z + s.w);
}

// Quantises x[m, k_tile .. k_tile + KT) (m < nm) into xh/xe: team t handles blocks t, t+8, ...;
// each lane 4 values of a block, the block amax meets in shared memory (atomicMax on the bits of
// non-negative floats orders like the floats).
void quantise_tile(uint nm, uint k_tile, uint col0, uint team, uint lane) {
  const uint bpr = KT / 128u;  // blocks per activation row in the tile
  const uint nblocks = nm * bpr;
  vec4 v[8];
  for (uint i = 0u; i < 8u; ++i) {
    const uint b = team + TEAMS * i;
    v[i] = vec4(0.0);
    if (b < nblocks) {
      const uint m = b / bpr, k = k_tile + (b % bpr) * 128u + lane * 4u;
      if (k < pc.K) v[i] = VEC ? x4[(m * pc.x_stride + col0 + k) >> 2]
                               : vec4(x_at(m, k, col0), x_at(m, k + 1u, col0), x_at(m, k + 2u, col0),
                                      x_at(m, k + 3u, col0));
      const vec4 a = abs(v[i]);
      atomicMax(amax_bits[b], floatBitsToUint(max(max(a.x, a.y), max(a.z, a.w))));
    }
  }
  barrier();
  for (uint i = 0u; i < 8u; ++i) {
    const uint b = team + TEAMS * i;
    if (b < nblocks) {
      const int e = fp8_scale_exponent(uintBitsToFloat(amax_bits[b]));
      const vec4 q = vec4(e4m3_round(ldexp(v[i].x, -e)), e4m3_round(ldexp(v[i].y, -e)),
                          e4m3_round(ldexp(v[i].z, -e)), e4m3_round(ldexp(v[i].w, -e)));
      const uint h = (b / bpr) * (KT / 2u) + (b % bpr) * 64u + lane * 2u;
      xh[h] = packHalf2x16(q.xy);
      xh[h + 1u] = packHalf2x16(q.zw);
      if (lane == 0u) xe[b] = e;
    }
  }
  barrier();
}

void main() {
  const uint t = gl_LocalInvocationID.x, team = t / TEAM, lane = t % TEAM;
  const uint g = gl_WorkGroupID.y, m0 = gl_WorkGroupID.x * MAXM;
  if (m0 >= step.n_rows) return;  // uniform over the workgroup: a block of dead activation rows
  const uint nm = min(step.n_rows - m0, MAXM);
  const uint col0 = m0 * pc.x_stride + g * pc.K;  // x of activation row m of the block: m * x_stride + col0
  const uint nchunks = (pc.K + 15u) / 16u;

  float acc[RPT][MAXM];
  for (uint i = 0u; i < RPT; ++i)
    for (uint m = 0u; m < MAXM; ++m) acc[i][m] = 0.0;

  if (FORMAT == 0u && QUANT) {
    if (t < 64u) amax_bits[t] = 0u;
    barrier();
    for (uint k_tile = 0u; k_tile < pc.K; k_tile += KT) {
      quantise_tile(nm, k_tile, col0, team, lane);
      const uint c_end = min(nchunks, (k_tile + KT) / 16u);
      for (uint i = 0u; i < RPT; ++i) {
        const uint r = gl_WorkGroupID.z * NR + team + TEAMS * i;
        if (r >= pc.R) continue;
        const uint row = g * pc.R + r;
        const uint srow = ((pc.row_base + row) / 128u) * pc.scale_cols;
        // UNROLL chunks' loads are issued before any is used: memory-level parallelism.
        for (uint c0 = k_tile / 16u + lane; c0 < c_end; c0 += UNROLL * TEAM) {
          uvec4 q[UNROLL];
          float ws[UNROLL];
          for (uint u = 0u; u < UNROLL; ++u) {
            const uint c = c0 + u * TEAM;
            q[u] = c < c_end ? w4[(row * pc.K + c * 16u) >> 4] : uvec4(0u);
            ws[u] = c < c_end ? wscale[srow + c / 8u] : 0.0;
          }
          for (uint u = 0u; u < UNROLL; ++u) {
            const uint c = c0 + u * TEAM;
            if (c >= c_end) break;
            for (uint m = 0u; m < MAXM; ++m) {
              if (m < nm) {
                const uint b = m * (KT / 128u) + (c * 16u - k_tile) / 128u;
                acc[i][m] += scale_by_fast(chunk_dot_q(q[u], c, m, k_tile), ws[u], 8 + xe[b]);
              }
            }
          }
        }
      }
      if (t < 64u) amax_bits[t] = 0u;  // for the next tile (its reads ended at quantise_tile's barrier)
      barrier();
    }
  } else if (FORMAT == 2u && VEC) {
    // BF16 (the head): lane l takes the 4-element groups l, l + 32, ... of its RPT rows in one
    // sweep, so that the fp32 x rows, the larger stream when MAXM rows share each weight, are
    // read contiguously and once per sweep (16-element chunks per lane put the 32 lanes 64 bytes
    // apart, 4x the cache lines, and a sweep per row re-read x: the head at batch 8 took 8x its
    // batch-1 time). A row's sum runs over its groups in ascending order whatever RPT is.
    const uint ngroups = pc.K / 4u;
    uint wrow[RPT];
    for (uint i = 0u; i < RPT; ++i) {
      const uint r = min(gl_WorkGroupID.z * NR + team + TEAMS * i, pc.R - 1u);  // dead rows: not written
      wrow[i] = (g * pc.R + r) * ngroups;
    }
    for (uint g0 = lane; g0 < ngroups; g0 += GROUP_UNROLL * TEAM) {
      uvec2 q[RPT][GROUP_UNROLL];  // every weight load goes out before any is used
      for (uint u = 0u; u < GROUP_UNROLL; ++u) {
        const uint gi = g0 + u * TEAM;
        for (uint i = 0u; i < RPT; ++i) q[i][u] = gi < ngroups ? w2[wrow[i] + gi] : uvec2(0u);
      }
      for (uint u = 0u; u < GROUP_UNROLL; ++u) {
        const uint gi = g0 + u * TEAM;
        if (gi >= ngroups) break;
        for (uint m = 0u; m < MAXM; ++m) {
          if (m < nm) {
            const vec4 xv = x4[((m * pc.x_stride + col0) >> 2) + gi];
            for (uint i = 0u; i < RPT; ++i) acc[i][m] += dot(xv, bf16x4(q[i][u]));
          }
        }
      }
    }
  } else {
    for (uint i = 0u; i < RPT; ++i) {
      const uint r = gl_WorkGroupID.z * NR + team + TEAMS * i;
      if (r >= pc.R) continue;
      const uint row = g * pc.R + r;
      const uint srow = ((pc.row_base + row) / 128u) * pc.scale_cols;
      if (FORMAT == 0u && VEC) {  // as the quantised path: loads first
        for (uint c0 = lane; c0 < nchunks; c0 += UNROLL * TEAM) {
          uvec4 q[UNROLL];
          float ws[UNROLL];
          for (uint u = 0u; u < UNROLL; ++u) {
            const uint c = c0 + u * TEAM;
            q[u] = c < nchunks ? w4[(row * pc.K + c * 16u) >> 4] : uvec4(0u);
            ws[u] = c < nchunks ? wscale[srow + c / 8u] : 0.0;
          }
          for (uint u = 0u; u < UNROLL; ++u) {
            const uint c = c0 + u * TEAM;
            if (c >= nchunks) break;
            for (uint m = 0u; m < MAXM; ++m) {
              if (m < nm) acc[i][m] += scale_by_fast(chunk_dot_xq(q[u], c, m, col0), ws[u], 8);
            }
          }
        }
        continue;
      }
      for (uint c = lane; c < nchunks; c += TEAM) {
        for (uint m = 0u; m < MAXM; ++m) {
          if (m < nm) {
            const float s = chunk_dot_x(row, c, m, col0);
            acc[i][m] += FORMAT == 0u ? scale_by(s, wscale[srow + c / 8u], 8) : s;
          }
        }
      }
    }
  }

  // Team partial sums -> one value per (row, m), summed in a fixed lane order.
  for (uint i = 0u; i < RPT; ++i)
    for (uint m = 0u; m < MAXM; ++m) xh[((team + TEAMS * i) * MAXM + m) * RED_STRIDE + lane] = floatBitsToUint(acc[i][m]);
  barrier();
  if (t < NR * MAXM) {
    const uint rl = t / MAXM, m = t % MAXM;
    const uint r = gl_WorkGroupID.z * NR + rl;
    if (m < nm && r < pc.R) {
      float s = 0.0;
      for (uint l = 0u; l < TEAM; ++l) s += uintBitsToFloat(xh[t * RED_STRIDE + l]);
      y[(m0 + m) * pc.y_stride + pc.row_base + g * pc.R + r] = finish_output(s, pc.out_scale);
    }
  }
}
