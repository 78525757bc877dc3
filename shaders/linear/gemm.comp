// Prefill-sized linear layer (scalar fallback GEMM): y[m, row] = x[m, :] . w[row, :] for
// m < n_rows, in 64x64 output tiles (64 activation rows x 64 weight rows), K in steps of 32
// through shared memory, 4x4 outputs per thread. Same semantics as gemv.comp (graph/linear.h):
// FP8 partial sums are kept per 128-wide K block and scaled by the block's weight scale once
// (as graph::linear's blocked dot); with act_quant each 1x128 block of x is quantised to e4m3
// with its power-of-two scale while it is loaded (the block amax is found first, from L2).
// gl_WorkGroupID.y is the group of a grouped linear (wo_a), z the activation-row tile.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256) in;

layout(constant_id = 0) const uint FORMAT = 0;       // 0 FP8, 2 BF16, 3 F32
layout(constant_id = 1) const bool QUANT = true;     // FP8: act_quant x per 1x128 block
layout(constant_id = 2) const bool OUT_F32 = false;  // fp32 output, else bf16
layout(constant_id = 6) const bool VEC = true;       // K % 16 == 0: vector loads
layout(constant_id = 7) const bool SCALED = false;   // y = bf16(bf16(acc) * out_scale)

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(std430, set = 0, binding = 2) readonly buffer W4 { uvec4 w4[]; };
layout(std430, set = 0, binding = 2) readonly buffer W2 { uvec2 w2[]; };
layout(std430, set = 0, binding = 2) readonly buffer W1 { uint w1[]; };
layout(std430, set = 0, binding = 3) readonly buffer WS { float wscale[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint R, K, x_stride, y_stride, scale_cols, row_base;
  float out_scale;
} pc;

#include "linear_common.glsl"

const uint BM = 64, BN = 64, BK = 32, PAD = 4;
shared float As[BK][BM + PAD];
shared float Bs[BK][BN + PAD];
shared uint amax_bits[BM];

float x_at(uint m, uint k, uint col0) { return k < pc.K ? x[m * pc.x_stride + col0 + k] : 0.0; }

float w_elem(uint row, uint k) {
  if (k >= pc.K) return 0.0;
  const uint i = row * pc.K + k;
  if (FORMAT == 0u) return e4m3_to_float(byte_in_word(w1[i >> 2], i & 3u)) * 256.0;  // units of 2^-8
  if (FORMAT == 2u) return bf16_to_float(half_in_word(w1[i >> 1], i & 1u));
  return uintBitsToFloat(w1[i]);
}

// Eight activations x[m, k .. k+8) (zero past K or past the step's rows).
void load_x8(uint m, uint k, uint col0, bool live, out vec4 a, out vec4 b) {
  a = vec4(0.0);
  b = vec4(0.0);
  if (!live) return;
  if (VEC) {
    if (k < pc.K) {
      const uint i = (m * pc.x_stride + col0 + k) >> 2;
      a = x4[i];
      b = x4[i + 1u];
    }
  } else {
    a = vec4(x_at(m, k, col0), x_at(m, k + 1u, col0), x_at(m, k + 2u, col0), x_at(m, k + 3u, col0));
    b = vec4(x_at(m, k + 4u, col0), x_at(m, k + 5u, col0), x_at(m, k + 6u, col0), x_at(m, k + 7u, col0));
  }
}

// Eight weights w[row, k .. k+8) as floats (FP8 in units of 2^-8).
void load_w8(uint row, uint k, bool live, out vec4 a, out vec4 b) {
  a = vec4(0.0);
  b = vec4(0.0);
  if (!live) return;
  if (VEC) {
    if (k >= pc.K) return;
    const uint e = row * pc.K + k;
    if (FORMAT == 0u) {
      const uvec2 q = w2[e >> 3];
      a = e4m3x4_scaled(q.x);
      b = e4m3x4_scaled(q.y);
    } else if (FORMAT == 2u) {
      const uvec4 q = w4[e >> 3];
      a = bf16x4(q.xy);
      b = bf16x4(q.zw);
    } else {
      a = uintBitsToFloat(w4[e >> 2]);
      b = uintBitsToFloat(w4[(e >> 2) + 1u]);
    }
  } else {
    a = vec4(w_elem(row, k), w_elem(row, k + 1u), w_elem(row, k + 2u), w_elem(row, k + 3u));
    b = vec4(w_elem(row, k + 4u), w_elem(row, k + 5u), w_elem(row, k + 6u), w_elem(row, k + 7u));
  }
}

void main() {
  const uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;
  const uint g = gl_WorkGroupID.y;
  const uint m0 = gl_WorkGroupID.z * BM, n0 = gl_WorkGroupID.x * BN;
  const uint nm = step.n_rows;
  if (m0 >= nm) return;  // whole tile past the step's rows (uniform: before any barrier)
  const uint col0 = g * pc.K;

  // Loader roles: activation row / weight row lr, 8 consecutive k at lk.
  const uint lr = t / 4u, lk = (t % 4u) * 8u;
  const bool x_live = m0 + lr < nm, w_live = n0 + lr < pc.R;
  const uint w_row = g * pc.R + n0 + lr;

  float acc[4][4], blk[4][4];
  for (uint i = 0u; i < 4u; ++i)
    for (uint j = 0u; j < 4u; ++j) acc[i][j] = blk[i][j] = 0.0;
  int e = 0;  // act_quant exponent of the loader's activation row in the current 128-block

  for (uint k0 = 0u; k0 < pc.K; k0 += BK) {
    if (FORMAT == 0u && QUANT && k0 % 128u == 0u) {
      // Block amax of the loader's row: 4 threads x 32 values.
      if (t < BM) amax_bits[t] = 0u;
      barrier();
      float am = 0.0;
      for (uint kk = 0u; kk < 32u; kk += 8u) {
        vec4 a, b;
        load_x8(m0 + lr, k0 + (t % 4u) * 32u + kk, col0, x_live, a, b);
        const vec4 mx = max(abs(a), abs(b));
        am = max(am, max(max(mx.x, mx.y), max(mx.z, mx.w)));
      }
      atomicMax(amax_bits[lr], floatBitsToUint(am));
      barrier();
      e = fp8_scale_exponent(uintBitsToFloat(amax_bits[lr]));
    }
    vec4 a0, a1, b0, b1;
    load_x8(m0 + lr, k0 + lk, col0, x_live, a0, a1);
    load_w8(w_row, k0 + lk, w_live, b0, b1);
    if (FORMAT == 0u && QUANT) {
      for (uint c = 0u; c < 4u; ++c) {
        a0[c] = fp8_quant(a0[c], e);
        a1[c] = fp8_quant(a1[c], e);
      }
    }
    for (uint c = 0u; c < 4u; ++c) {
      As[lk + c][lr] = a0[c];
      As[lk + 4u + c][lr] = a1[c];
      Bs[lk + c][lr] = b0[c];
      Bs[lk + 4u + c][lr] = b1[c];
    }
    barrier();
    for (uint kk = 0u; kk < BK; ++kk) {
      float av[4], bv[4];
      for (uint i = 0u; i < 4u; ++i) av[i] = As[kk][ty + 16u * i];
      for (uint j = 0u; j < 4u; ++j) bv[j] = Bs[kk][tx + 16u * j];
      for (uint i = 0u; i < 4u; ++i)
        for (uint j = 0u; j < 4u; ++j) blk[i][j] = fma(av[i], bv[j], blk[i][j]);
    }
    barrier();
    // End of a 128-wide K block (or of K): fold the block into the sum with its weight scale.
    if ((k0 + BK) % 128u == 0u || k0 + BK >= pc.K) {
      for (uint j = 0u; j < 4u; ++j) {
        const uint n = n0 + tx + 16u * j;
        const float ws = FORMAT == 0u && n < pc.R
                             ? wscale[((pc.row_base + g * pc.R + n) / 128u) * pc.scale_cols + k0 / 128u]
                             : 1.0;
        for (uint i = 0u; i < 4u; ++i) {
          acc[i][j] += FORMAT == 0u ? scale_by(blk[i][j], ws, 8) : blk[i][j];
          blk[i][j] = 0.0;
        }
      }
    }
  }

  for (uint i = 0u; i < 4u; ++i) {
    const uint m = m0 + ty + 16u * i;
    if (m >= nm) continue;
    for (uint j = 0u; j < 4u; ++j) {
      const uint n = n0 + tx + 16u * j;
      if (n < pc.R) y[m * pc.y_stride + pc.row_base + g * pc.R + n] = finish_output(acc[i][j], pc.out_scale);
    }
  }
}
