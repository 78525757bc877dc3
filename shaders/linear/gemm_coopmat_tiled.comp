// Prefill-sized FP8 linear layer with act_quant on cooperative matrices (NV; the build derives the KHR form, _khr) (fp16 16x16x16 ->
// fp32), fed by gemm_coopmat_quant.comp's fp16 activations: y[m, row] = bf16(sum over 128-wide K
// blocks b of ws[row / 128, b] * (xq[m, b] . w[row, b])).
//
// Numerics: weights become fp16 e4m3 * 2^-8 by a shift (exact), activations arrive exact in
// fp16 (values * 2^-E per row), so the tensor cores form exact products. Each 128-K block sums
// into temporary accumulators, which are scaled by the block's weight scale (normalised by one
// power of two per workgroup, 2^S, so subnormal fp32 scales stay exact) and added to the main
// ones; the output applies 2^(E + 8 - S) per row. Rows the quantiser marked wide (their blocks'
// exponents span > 22 binades) hold unscaled e4m3 values: in a workgroup with such a row each
// block's partial tile also goes through shared memory once, scaled by 2^(e_b - E) per row.
//
// Workgroup: 256 threads = 8 subgroups of 32 (the host checks the subgroup size); a 128x128
// output tile (128 activation rows x 128 weight rows, which the host aligns to 128-row weight
// scale blocks), K staged 32 at a time, double-buffered in shared memory through registers (one
// barrier per stage). Subgroup s owns the 64x32 block (s % 2, s / 2): 4 x 2 accumulator tiles.
// gl_WorkGroupID.x: weight row tile, y: group (wo_a), z: activation row tile.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x = 256) in;

layout(constant_id = 2) const bool OUT_F32 = false;  // must be false
layout(constant_id = 7) const bool SCALED = false;   // y = bf16(bf16(acc) * out_scale)

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "coopmat.glsl"

layout(std430, set = 0, binding = 1) readonly buffer A4 { uvec4 a4[]; };          // fp16 [V, KP]
layout(std430, set = 0, binding = 2) readonly buffer RowInfo { ivec2 row_info[]; };  // (E, wide) [V]
layout(std430, set = 0, binding = 3) readonly buffer BlockExp { int block_exp[]; };  // [V, nb]
layout(std430, set = 0, binding = 4) readonly buffer W4 { uvec4 w4[]; };
layout(std430, set = 0, binding = 5) readonly buffer WS { float wscale[]; };
layout(std430, set = 0, binding = 6) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint R;  // weight rows per group in this dispatch (a row slice)
  uint K;  // columns per group (% 16 == 0)
  uint KP;  // fp16 per scratch row (K rounded up to BK)
  uint y_stride;
  uint scale_cols;  // ceil(K / 128): weight-scale row length and blocks per activation row
  uint row_base;    // first weight row of the slice
  float out_scale;
  uint groups;
} pc;

#include "linear_common.glsl"

const uint BM = 128, BN = 128, BK = 32;
const uint ST = BK / 8u + 1u;  // row stride of the staged tiles in uvec4 (8 fp16 + 8 of padding)
const uint TILE = BM * ST;     // uvec4 per staged tile
shared uvec4 As[2 * TILE];
shared uvec4 Bs[2 * TILE];
shared int row_exp[BM];
shared uint any_wide;
shared int ws_field_max;


void main() {
  const uint t = gl_LocalInvocationID.x;
  const uint g = gl_WorkGroupID.y;
  const uint m0 = gl_WorkGroupID.z * BM, n0 = gl_WorkGroupID.x * BN;
  const uint nm = step.n_rows;
  if (m0 >= nm) return;  // uniform, before any barrier
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint wm = (sg % 2u) * 64u, wn = (sg / 2u) * 32u;
  const uint nst = pc.KP / BK;
  const uint wblock = (pc.row_base + g * pc.R + n0) / 128u;  // the tile's weight-scale row

  // Per-row exponents, the wide flag and the largest weight-scale exponent field of the tile.
  if (t == 0u) {
    any_wide = 0u;
    ws_field_max = 0;
  }
  barrier();
  if (t < BM) {
    const ivec2 info = row_info[min(m0 + t, nm - 1u) * pc.groups + g];
    row_exp[t] = info.x;
    if (m0 + t < nm && info.y != 0) atomicOr(any_wide, 1u);
  }
  for (uint b = t; b < pc.scale_cols; b += 256u) {
    atomicMax(ws_field_max, int((floatBitsToUint(wscale[wblock * pc.scale_cols + b]) >> 23) & 0xffu));
  }

  // Loader roles. A: rows la and la + 64, uvec4 lc of the stage's 4; B: row lb, 16 codes at lbc.
  const uint la = t / 4u, lc = t % 4u;
  const uint va0 = min(m0 + la, nm - 1u) * pc.groups + g, va1 = min(m0 + la + 64u, nm - 1u) * pc.groups + g;
  const uint lb = t / 2u, lbc = (t % 2u) * 16u;
  const uint w_row = g * pc.R + min(n0 + lb, pc.R - 1u);
  uvec4 ra0, ra1, rb;

  CM_ACC acc[8], tmp[8];
  [[unroll]] for (uint i = 0u; i < 8u; ++i) {
    acc[i] = CM_ACC(0.0);
    tmp[i] = CM_ACC(0.0);
  }

  // Stage 0 into buffer 0.
  ra0 = a4[(va0 * pc.KP) / 8u + lc];
  ra1 = a4[(va1 * pc.KP) / 8u + lc];
  rb = lbc < pc.K ? w4[(w_row * pc.K + lbc) / 16u] : uvec4(0u);
  As[la * ST + lc] = ra0;
  As[(la + 64u) * ST + lc] = ra1;
  Bs[lb * ST + lbc / 8u] = uvec4(e4m3x4_half_bits(rb.x), e4m3x4_half_bits(rb.y));
  Bs[lb * ST + lbc / 8u + 1u] = uvec4(e4m3x4_half_bits(rb.z), e4m3x4_half_bits(rb.w));
  barrier();
  const bool wide = any_wide != 0u;
  const int S = 127 - ws_field_max;

  for (uint st = 0u; st < nst; ++st) {
    const uint cur = (st & 1u) * TILE, nxt = TILE - cur;
    const bool more = st + 1u < nst;
    if (more) {  // next stage's global loads, in flight during this stage's multiplies
      const uint k = (st + 1u) * BK;
      ra0 = a4[(va0 * pc.KP + k) / 8u + lc];
      ra1 = a4[(va1 * pc.KP + k) / 8u + lc];
      rb = k + lbc < pc.K ? w4[(w_row * pc.K + k + lbc) / 16u] : uvec4(0u);
    }
    [[unroll]] for (uint kk = 0u; kk < BK / 8u; kk += 2u) {
      CM_A a[4];
      CM_B b[2];
      [[unroll]] for (uint i = 0u; i < 4u; ++i) coopMatLoadNV(a[i], As, cur + (wm + 16u * i) * ST + kk, ST, false);
      // Bs rows are weight rows [n][k]: a column-major K x N operand.
      [[unroll]] for (uint j = 0u; j < 2u; ++j) coopMatLoadNV(b[j], Bs, cur + (wn + 16u * j) * ST + kk, ST, true);
      [[unroll]] for (uint i = 0u; i < 4u; ++i) {
        [[unroll]] for (uint j = 0u; j < 2u; ++j) tmp[2u * i + j] = coopMatMulAddNV(a[i], b[j], tmp[2u * i + j]);
      }
    }
    if (more) {
      As[nxt + la * ST + lc] = ra0;
      As[nxt + (la + 64u) * ST + lc] = ra1;
      Bs[nxt + lb * ST + lbc / 8u] = uvec4(e4m3x4_half_bits(rb.x), e4m3x4_half_bits(rb.y));
      Bs[nxt + lb * ST + lbc / 8u + 1u] = uvec4(e4m3x4_half_bits(rb.z), e4m3x4_half_bits(rb.w));
    }
    barrier();
    if ((st + 1u) % (128u / BK) == 0u || !more) {  // a 128-K block done
      const uint kb = st / (128u / BK);
      if (wide) {  // per-row 2^(e_b - E), through this subgroup's 1 KiB of the buffer just read
        const uint base = cur + sg * 64u;
        [[unroll]] for (uint i = 0u; i < 8u; ++i) {
          coopMatStoreNV(tmp[i], As, base, 4u, false);
          subgroupMemoryBarrierShared();
          subgroupBarrier();
          for (uint e = lane; e < 256u; e += 32u) {
            const uint r = wm + 16u * (i / 2u) + e / 16u;
            const int f = block_exp[min(m0 + r, nm - 1u) * pc.groups * pc.scale_cols + g * pc.scale_cols + kb];
            As[base + e / 4u][e % 4u] = floatBitsToUint(ldexp_wide(uintBitsToFloat(As[base + e / 4u][e % 4u]), f - row_exp[r]));
          }
          subgroupMemoryBarrierShared();
          subgroupBarrier();
          coopMatLoadNV(tmp[i], As, base, 4u, false);
          subgroupBarrier();
        }
        barrier();  // the buffer is next written in the next stage
      }
      const float ws = scale_by(1.0, wscale[wblock * pc.scale_cols + kb], S);
      [[unroll]] for (uint i = 0u; i < 8u; ++i) {
        acc[i] = acc[i] + tmp[i] * ws;
        tmp[i] = CM_ACC(0.0);
      }
    }
  }

  // Output: each accumulator tile through this subgroup's 1 KiB of shared memory, 2^(E + 8 - S)
  // per row, bf16 rounding, 8 consecutive outputs per lane.
  const uint base = sg * 64u;
  [[unroll]] for (uint i = 0u; i < 8u; ++i) {
    coopMatStoreNV(acc[i], As, base, 4u, false);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    const uint r = wm + 16u * (i / 2u) + lane / 2u, m = m0 + r;
    const uint c0 = wn + 16u * (i % 2u) + (lane % 2u) * 8u;
    const int ex = row_exp[r] + 8 - S;
    for (uint c = 0u; c < 8u; ++c) {
      const uint n = n0 + c0 + c;
      const uint e = (lane / 2u) * 16u + (lane % 2u) * 8u + c;
      if (m < nm && n < pc.R) {
        y[m * pc.y_stride + pc.row_base + g * pc.R + n] =
            finish_output(ldexp_wide(uintBitsToFloat(As[base + e / 4u][e % 4u]), ex), pc.out_scale);
      }
    }
    subgroupBarrier();
  }
}
