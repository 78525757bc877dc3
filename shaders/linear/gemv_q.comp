// FP8 GEMV with act_quant fed by act_quant.comp's scratch (graph/vulkan/linear.cpp picks it when
// LinearArgs::scratch is given): y[m, row] = bf16(sum_k q(x)[m, k] * w[row, k]) for m < min(n_rows, MAXM).
// Bandwidth-bound: the quantised activation (a few KB) is read through the caches, so a workgroup
// has no set-up and can be small; rows are split over TPR threads each so that even short-N
// shapes (wq_a 1024x4096) launch enough workgroups, and every thread issues UNROLL * RPT
// independent 16-byte weight loads before using any (memory-level parallelism). Each thread
// works on RPT rows so that one activation chunk (read from L1 and converted once) serves RPT
// weight chunks: the activation reads, not the weights, otherwise limit the speed.
//
// Workgroup: 256 threads = 256/TPR teams x TPR threads, team i owns rows RPT*i .. RPT*i+RPT-1 of
// the workgroup's; thread j of a team takes 16-element chunks j, j + TPR, ...; the TPR partial
// sums of a row meet in a fixed shared-memory tree (deterministic, valid for every subgroup size). Numerics as gemv.comp: e4m3 weights become fp16 by a shift (value *
// 2^-8, exact), activations are unscaled e4m3 in fp16 (exact), and a chunk's partial sum is scaled
// by the block's weight scale * 2^(8 + e) (powers of two: the reference's products, summed in
// another order). gl_WorkGroupID.y is the group of a grouped linear (wo_a layout).
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256) in;

layout(constant_id = 2) const bool OUT_F32 = false;  // linear_common.glsl needs it; act_quant implies bf16
layout(constant_id = 1) const uint RPT = 1;          // weight rows per thread; RPT * MAXM <= 16
layout(constant_id = 3) const uint MAXM = 1;         // activation rows the recording serves (<= 16)
layout(constant_id = 4) const uint TPR = 32;         // threads per weight row: a power of two <= 256
layout(constant_id = 5) const uint UNROLL = 2;       // chunks per row whose loads a thread issues before using any
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

const uint WG = 256u, TEAMS = WG / TPR;

shared float red[16u * WG];  // RPT * MAXM <= 16 partial sums per thread

#include "linear_common.glsl"

void main() {
  const uint t = gl_LocalInvocationID.x, team = t / TPR, j = t % TPR;
  const uint g = gl_WorkGroupID.y, r0 = (gl_WorkGroupID.x * TEAMS + team) * RPT;
  const uint nm = min(step.n_rows, MAXM);
  const uint groups = pc.x_stride / pc.K;
  const uint nchunks = pc.K / 16u;
  const uint qs = (pc.K / 2u + pc.scale_cols + 3u) & ~3u;  // scratch words per virtual row
  const uint nr = r0 < pc.R ? min(RPT, pc.R - r0) : 0u;    // live rows of this thread

  float acc[RPT][MAXM];
  for (uint i = 0u; i < RPT; ++i)
    for (uint m = 0u; m < MAXM; ++m) acc[i][m] = 0.0;

  if (nr > 0u && nm > 0u) {
    uint srow[RPT];
    for (uint i = 0u; i < RPT; ++i) srow[i] = ((pc.row_base + g * pc.R + r0 + i) / 128u) * pc.scale_cols;
    for (uint c0 = j; c0 < nchunks; c0 += UNROLL * TPR) {
      uvec4 wq[UNROLL][RPT];
      float ws[UNROLL][RPT];
      for (uint u = 0u; u < UNROLL; ++u) {
        const uint c = c0 + u * TPR;
        for (uint i = 0u; i < RPT; ++i) {
          const bool ok = c < nchunks && i < nr;
          wq[u][i] = ok ? w4[(g * pc.R + r0 + i) * nchunks + c] : uvec4(0u);
          ws[u][i] = ok ? wscale[srow[i] + c / 8u] : 0.0;
        }
      }
      for (uint u = 0u; u < UNROLL; ++u) {
        const uint c = c0 + u * TPR;
        if (c >= nchunks) break;
        for (uint m = 0u; m < MAXM; ++m) {
          if (m < nm) {
            const uint base = (m * groups + g) * qs;
            const uvec4 a = q4[(base + c * 8u) >> 2], b = q4[((base + c * 8u) >> 2) + 1u];
            const vec4 x0 = vec4(unpackHalf2x16(a.x), unpackHalf2x16(a.y)), x1 = vec4(unpackHalf2x16(a.z), unpackHalf2x16(a.w));
            const vec4 x2 = vec4(unpackHalf2x16(b.x), unpackHalf2x16(b.y)), x3 = vec4(unpackHalf2x16(b.z), unpackHalf2x16(b.w));
            const int e = 8 + int(q1[base + pc.K / 2u + c / 8u]);
            for (uint i = 0u; i < RPT; ++i) {
              const uvec4 q = wq[u][i];
              const float s = (dot(e4m3x4_scaled(q.x), x0) + dot(e4m3x4_scaled(q.y), x1)) +
                              (dot(e4m3x4_scaled(q.z), x2) + dot(e4m3x4_scaled(q.w), x3));
              acc[i][m] += scale_by_fast(s, ws[u][i], e);
            }
          }
        }
      }
    }
  }

  // The TPR partial sums of a row meet in a fixed tree: thread j adds j + s for s = TPR/2 .. 1.
  for (uint i = 0u; i < RPT; ++i)
    for (uint m = 0u; m < MAXM; ++m) red[(i * MAXM + m) * WG + t] = acc[i][m];
  barrier();
  for (uint s = TPR / 2u; s > 0u; s >>= 1) {
    if (j < s)
      for (uint k = 0u; k < RPT * MAXM; ++k) red[k * WG + t] += red[k * WG + t + s];
    barrier();
  }
  if (j == 0u)
    for (uint i = 0u; i < nr; ++i)
      for (uint m = 0u; m < MAXM; ++m)
        if (m < nm) y[m * pc.y_stride + pc.row_base + g * pc.R + r0 + i] = finish_output(red[(i * MAXM + m) * WG + t], pc.out_scale);
}
