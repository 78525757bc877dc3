// FP8 GEMV with act_quant fed by act_quant.comp's scratch (graph/vulkan/linear.cpp picks it when
// LinearArgs::scratch is given): y[m, row] = bf16(sum_k q(x)[m, k] * w[row, k]) for m < min(n_rows, MAXM).
// Bandwidth-bound: the quantised activation (a few KB) is read through the caches, so a workgroup
// has no set-up and can be small; rows are split over TPR threads each so that even short-N
// shapes (wq_a 1024x4096) launch enough workgroups, and every thread issues UNROLL independent
// 16-byte weight loads before using any (memory-level parallelism).
//
// Workgroup: 256 threads = 256/TPR rows x TPR threads; thread j of a row takes 16-element chunks
// j, j + TPR, ...; the TPR partial sums meet in a fixed shared-memory tree (deterministic, valid
// for every subgroup size). Numerics as gemv.comp: e4m3 weights become fp16 by a shift (value *
// 2^-8, exact), activations are unscaled e4m3 in fp16 (exact), and a chunk's partial sum is scaled
// by the block's weight scale * 2^(8 + e) (powers of two: the reference's products, summed in
// another order). gl_WorkGroupID.y is the group of a grouped linear (wo_a layout).
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256) in;

layout(constant_id = 2) const bool OUT_F32 = false;  // linear_common.glsl needs it; act_quant implies bf16
layout(constant_id = 3) const uint MAXM = 1;         // activation rows the recording serves (<= 16)
layout(constant_id = 4) const uint TPR = 32;         // threads per weight row: a power of two <= 256
layout(constant_id = 5) const uint UNROLL = 4;       // chunks whose loads a thread issues before using any
layout(constant_id = 7) const bool SCALED = false;   // y = bf16(bf16(acc) * out_scale)

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, set = 0, binding = 1) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, set = 0, binding = 1) readonly buffer Q1 { uint q1[]; };
layout(std430, set = 0, binding = 2) readonly buffer W4 { uvec4 w4[]; };
layout(std430, set = 0, binding = 3) readonly buffer WS { float wscale[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint R;           // rows per group (all rows when groups == 1) in this dispatch
  uint K;           // columns of the weight (per group)
  uint x_stride;    // floats per activation row (groups * K)
  uint y_stride;    // floats per output row
  uint scale_cols;  // ceil(K / 128): FP8 scale row stride and exponents per scratch row
  uint row_base;    // first weight row of this dispatch (the w binding starts there)
  float out_scale;
} pc;

const uint WG = 256u, RW = WG / TPR;

shared float red[MAXM * WG];

#include "linear_common.glsl"

// Dot of two fp16 pairs words (unscaled e4m3 activations) with four decoded weights.
float dot_pairs(vec4 w, uint a, uint b) { return dot(w, vec4(unpackHalf2x16(a), unpackHalf2x16(b))); }

void main() {
  const uint t = gl_LocalInvocationID.x, rl = t / TPR, j = t % TPR;
  const uint g = gl_WorkGroupID.y, r = gl_WorkGroupID.x * RW + rl;
  const uint nm = min(step.n_rows, MAXM);
  const uint groups = pc.x_stride / pc.K;
  const uint nchunks = pc.K / 16u;
  const uint qs = (pc.K / 2u + pc.scale_cols + 3u) & ~3u;  // scratch words per virtual row
  const uint row = g * pc.R + r;

  float acc[MAXM];
  for (uint m = 0u; m < MAXM; ++m) acc[m] = 0.0;

  if (r < pc.R && nm > 0u) {
    const uint srow = ((pc.row_base + row) / 128u) * pc.scale_cols;
    for (uint c0 = j; c0 < nchunks; c0 += UNROLL * TPR) {
      uvec4 wq[8];  // UNROLL <= 8
      float ws[8];
      for (uint u = 0u; u < UNROLL; ++u) {
        const uint c = c0 + u * TPR;
        wq[u] = c < nchunks ? w4[row * nchunks + c] : uvec4(0u);
        ws[u] = c < nchunks ? wscale[srow + c / 8u] : 0.0;
      }
      for (uint u = 0u; u < UNROLL; ++u) {
        const uint c = c0 + u * TPR;
        if (c >= nchunks) break;
        const vec4 w0 = e4m3x4_scaled(wq[u].x), w1 = e4m3x4_scaled(wq[u].y);
        const vec4 w2 = e4m3x4_scaled(wq[u].z), w3 = e4m3x4_scaled(wq[u].w);
        for (uint m = 0u; m < MAXM; ++m) {
          if (m < nm) {
            const uint base = (m * groups + g) * qs;
            const uvec4 a = q4[(base + c * 8u) >> 2], b = q4[((base + c * 8u) >> 2) + 1u];
            const float s = (dot_pairs(w0, a.x, a.y) + dot_pairs(w1, a.z, a.w)) +
                            (dot_pairs(w2, b.x, b.y) + dot_pairs(w3, b.z, b.w));
            acc[m] += scale_by_fast(s, ws[u], 8 + int(q1[base + pc.K / 2u + c / 8u]));
          }
        }
      }
    }
  }

  // The TPR partial sums of a row meet in a fixed tree: thread j adds j + s for s = TPR/2 .. 1.
  for (uint m = 0u; m < MAXM; ++m) red[m * WG + t] = acc[m];
  barrier();
  for (uint s = TPR / 2u; s > 0u; s >>= 1) {
    if (j < s)
      for (uint m = 0u; m < MAXM; ++m) red[m * WG + t] += red[m * WG + t + s];
    barrier();
  }
  if (j == 0u && r < pc.R)
    for (uint m = 0u; m < MAXM; ++m)
      if (m < nm) y[m * pc.y_stride + pc.row_base + row] = finish_output(red[m * WG + t], pc.out_scale);
}
