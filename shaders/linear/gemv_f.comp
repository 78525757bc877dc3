// FP8 GEMV with act_quant quantising x in the kernel (graph/vulkan/linear.cpp picks it without
// LinearArgs::scratch when K <= 4096 and max_rows * K <= 8192): gemv_q.comp's weight loop over a quantised x
// that each workgroup builds in shared memory first, for 256/TPR >= 8 rows. Unlike gemv.comp the
// block amax meets without atomics (per-chunk maxima, then 8 of them per block), and the first
// UNROLL weight loads are issued before the quantisation so its latency hides behind theirs.
// y[m, row] = bf16(sum_k q(x)[m, k] * w[row, k]) for m < min(n_rows, MAXM); numerics as gemv_q.comp.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256) in;

layout(constant_id = 2) const bool OUT_F32 = false;  // linear_common.glsl needs it; act_quant implies bf16
layout(constant_id = 3) const uint MAXM = 1;         // activation rows the recording serves; MAXM * K <= 8192
layout(constant_id = 4) const uint TPR = 32;         // threads per weight row: a power of two <= 32
layout(constant_id = 5) const uint UNROLL = 4;       // chunks whose loads a thread issues before using any (<= 8)
layout(constant_id = 7) const bool SCALED = false;   // y = bf16(bf16(acc) * out_scale)

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, set = 0, binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(std430, set = 0, binding = 2) readonly buffer W4 { uvec4 w4[]; };
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

const uint WG = 256u, RW = WG / TPR;

shared uvec4 xh[1024];  // quantised x: fp16 pairs of unscaled e4m3, [m][K/8] uvec4; later the reduction
shared int xe[64];      // block exponents [m][K/128]
shared float camax[512];  // per-chunk amax [m][K/16]

#include "linear_common.glsl"

float dot_pairs(vec4 w, uint a, uint b) { return dot(w, vec4(unpackHalf2x16(a), unpackHalf2x16(b))); }

// Quantises x rows m < nm (group g's columns) into xh/xe.
void quantise_x(uint nm, uint col0, uint t) {
  const uint nch = pc.K / 16u, nb = (pc.K + 127u) / 128u;
  for (uint i = t; i < nm * nch; i += WG) {
    const uint m = i / nch, c = i % nch, xb = (m * pc.x_stride + col0 + c * 16u) >> 2;
    const vec4 a = max(max(abs(x4[xb]), abs(x4[xb + 1u])), max(abs(x4[xb + 2u]), abs(x4[xb + 3u])));
    camax[i] = max(max(a.x, a.y), max(a.z, a.w));
  }
  barrier();
  for (uint i = t; i < nm * nch; i += WG) {
    const uint m = i / nch, c = i % nch, b = c / 8u, xb = (m * pc.x_stride + col0 + c * 16u) >> 2;
    float amax = 0.0;
    for (uint k = b * 8u; k < min(b * 8u + 8u, nch); ++k) amax = max(amax, camax[m * nch + k]);
    const int e = fp8_scale_exponent(amax);
    uint h[8];
    for (uint v = 0u; v < 4u; ++v) {
      const vec4 xv = x4[xb + v];
      h[2u * v] = packHalf2x16(vec2(e4m3_round(ldexp(xv.x, -e)), e4m3_round(ldexp(xv.y, -e))));
      h[2u * v + 1u] = packHalf2x16(vec2(e4m3_round(ldexp(xv.z, -e)), e4m3_round(ldexp(xv.w, -e))));
    }
    xh[2u * i] = uvec4(h[0], h[1], h[2], h[3]);
    xh[2u * i + 1u] = uvec4(h[4], h[5], h[6], h[7]);
    if (c % 8u == 0u) xe[m * nb + b] = e;
  }
  barrier();
}

void main() {
  const uint t = gl_LocalInvocationID.x, rl = t / TPR, j = t % TPR;
  const uint g = gl_WorkGroupID.y, r = gl_WorkGroupID.x * RW + rl;
  const uint nm = min(step.n_rows, MAXM);
  const uint nchunks = pc.K / 16u, nb = (pc.K + 127u) / 128u;
  const uint row = g * pc.R + r;
  const bool live = r < pc.R && nm > 0u;
  const uint srow = ((pc.row_base + row) / 128u) * pc.scale_cols;

  uvec4 wq[8];
  float ws[8];
  // The first loads go out before the quantisation (its latency hides behind theirs).
  for (uint u = 0u; u < UNROLL; ++u) {
    const uint c = j + u * TPR;
    wq[u] = live && c < nchunks ? w4[row * nchunks + c] : uvec4(0u);
    ws[u] = live && c < nchunks ? wscale[srow + c / 8u] : 0.0;
  }
  quantise_x(nm, g * pc.K, t);

  float acc[MAXM];
  for (uint m = 0u; m < MAXM; ++m) acc[m] = 0.0;
  if (live) {
    for (uint c0 = j; c0 < nchunks; c0 += UNROLL * TPR) {
      if (c0 != j) {
        for (uint u = 0u; u < UNROLL; ++u) {
          const uint c = c0 + u * TPR;
          wq[u] = c < nchunks ? w4[row * nchunks + c] : uvec4(0u);
          ws[u] = c < nchunks ? wscale[srow + c / 8u] : 0.0;
        }
      }
      for (uint u = 0u; u < UNROLL; ++u) {
        const uint c = c0 + u * TPR;
        if (c >= nchunks) break;
        const vec4 w0 = e4m3x4_scaled(wq[u].x), w1 = e4m3x4_scaled(wq[u].y);
        const vec4 w2 = e4m3x4_scaled(wq[u].z), w3 = e4m3x4_scaled(wq[u].w);
        for (uint m = 0u; m < MAXM; ++m) {
          if (m < nm) {
            const uvec4 a = xh[2u * (m * nchunks + c)], b = xh[2u * (m * nchunks + c) + 1u];
            const float s = (dot_pairs(w0, a.x, a.y) + dot_pairs(w1, a.z, a.w)) +
                            (dot_pairs(w2, b.x, b.y) + dot_pairs(w3, b.z, b.w));
            acc[m] += scale_by_fast(s, ws[u], 8 + xe[m * nb + c / 8u]);
          }
        }
      }
    }
  }

  // The TPR partial sums of a row meet in a fixed tree (in xh, once every thread is done with it).
  barrier();
  for (uint m = 0u; m < MAXM; ++m) xh[(m * WG + t) / 4u][t % 4u] = floatBitsToUint(acc[m]);
  barrier();
  for (uint s = TPR / 2u; s > 0u; s >>= 1) {
    if (j < s)
      for (uint m = 0u; m < MAXM; ++m) {
        const uint i = m * WG + t, k = i + s;
        xh[i / 4u][i % 4u] = floatBitsToUint(uintBitsToFloat(xh[i / 4u][i % 4u]) + uintBitsToFloat(xh[k / 4u][k % 4u]));
      }
    barrier();
  }
  if (j == 0u && r < pc.R)
    for (uint m = 0u; m < MAXM; ++m)
      if (m < nm) y[m * pc.y_stride + pc.row_base + row] = finish_output(uintBitsToFloat(xh[(m * WG + t) / 4u][t % 4u]), pc.out_scale);
}
