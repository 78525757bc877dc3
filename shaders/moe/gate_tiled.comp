#version 450
#extension GL_GOOGLE_include_directive : require
// MoE router logits for many rows at once (prefill): logit[row][e] = x[row] . gate[e] as a
// register-tiled product, 64 rows x 64 experts a workgroup, each invocation 4 rows x 4 experts.
// Every logit is still gate_common.glsl's sequential dot (each product rounded, then added in
// column order: `precise`, no fused multiply-add), so the bits equal gate_logits.comp's and
// graph::linear_fp32's; the tiling only shares each staged x and gate value among 4 dots, where
// gate_logits.comp's 4 summing threads per workgroup chain ~1M dependent adds per row (40 ms of a
// 4,096-row Flash prefill on an H100). gate_select.comp then turns each row into its route.
// Columns go 32 at a time through shared memory, stored transposed ([column][row] and
// [column][expert]) so an invocation reads its 4 rows and 4 experts as one vec4 each; the next
// stage's loads are in flight during this one's products. Grid (ceil(E / 64), ceil(max_rows / 64)).
layout(local_size_x = 256) in;
#define GATE_DOTS
#include "gate_common.glsl"

layout(std430, binding = 3) writeonly buffer Logits { float logits[]; };  // [max_rows, E]

const uint TR = 64u, TE = 64u, KS = 32u;  // rows, experts, columns per stage
shared vec4 xs[KS][TR / 4u];  // [column][rows / 4]
shared vec4 gs[KS][TE / 4u];  // [column][experts / 4]

// Chunk n8 (8 columns) of x row `xrow` and gate row `ge`; zeros past dim.
void load_chunk(uint n8, uint xrow, uint ge, uint chunks, out vec4 xa, out vec4 xb, out uvec4 g) {
  xa = n8 < chunks ? x4[xrow * (p.dim / 4u) + 2u * n8] : vec4(0.0);
  xb = n8 < chunks ? x4[xrow * (p.dim / 4u) + 2u * n8 + 1u] : vec4(0.0);
  g = n8 < chunks ? gate8[ge * chunks + n8] : uvec4(0u);
}

void main() {
  const uint t = gl_LocalInvocationID.x;
  const uint r0 = gl_WorkGroupID.y * TR, e0 = gl_WorkGroupID.x * TE;
  if (r0 >= step.n_rows) return;  // uniform over the workgroup
  const uint chunks = p.dim / 8u, stages = (p.dim + KS - 1u) / KS;
  // Loading roles: x row lr, 8 columns (two vec4) lc8 of the stage; gate expert lr, the same 8.
  const uint lr = t / 4u, lc8 = t % 4u;
  const uint xrow = min(r0 + lr, step.n_rows - 1u), ge = min(e0 + lr, p.n_experts - 1u);
  // Product roles: rows 4 * (t / 16) .. +3, experts 4 * (t % 16) .. +3.
  const uint pr = t / 16u, pe = t % 16u;

  vec4 xa, xb;
  uvec4 g;
  load_chunk(lc8, xrow, ge, chunks, xa, xb, g);  // stage 0

  precise vec4 acc[4];
  for (uint i = 0u; i < 4u; ++i) acc[i] = vec4(0.0);
  for (uint s = 0u; s < stages; ++s) {
    barrier();  // the previous stage's products are done with xs, gs
    const vec4 gv0 = vec4(bf16_to_float(g.x), bf16_to_float(g.x >> 16), bf16_to_float(g.y), bf16_to_float(g.y >> 16));
    const vec4 gv1 = vec4(bf16_to_float(g.z), bf16_to_float(g.z >> 16), bf16_to_float(g.w), bf16_to_float(g.w >> 16));
    for (uint j = 0u; j < 4u; ++j) {
      xs[8u * lc8 + j][lr / 4u][lr % 4u] = xa[j];
      xs[8u * lc8 + 4u + j][lr / 4u][lr % 4u] = xb[j];
      gs[8u * lc8 + j][lr / 4u][lr % 4u] = gv0[j];
      gs[8u * lc8 + 4u + j][lr / 4u][lr % 4u] = gv1[j];
    }
    barrier();
    // The next stage's loads, in flight during the products.
    if (s + 1u < stages) load_chunk((s + 1u) * (KS / 8u) + lc8, xrow, ge, chunks, xa, xb, g);
    const uint kn = min(KS, p.dim - s * KS);
    for (uint k = 0u; k < kn; ++k) {
      const vec4 a = xs[k][pr], b = gs[k][pe];
      for (uint i = 0u; i < 4u; ++i) {
        precise vec4 prod = a[i] * b;
        acc[i] += prod;
      }
    }
  }
  for (uint i = 0u; i < 4u; ++i) {
    const uint row = r0 + 4u * pr + i;
    if (row >= step.n_rows) continue;
    for (uint j = 0u; j < 4u; ++j) {
      const uint e = e0 + 4u * pe + j;
      if (e < p.n_experts) logits[row * p.n_experts + e] = acc[i][j];
    }
  }
}
