// act_quant of graph::linear for the tiled cooperative-matrix GEMM (gemm_coopmat_tiled.comp):
// each 1x128 block b of an activation row becomes q = e4m3(x / 2^e_b) (e_b its ue8m0 block
// exponent), stored as fp16 q * 2^(e_b - E) with one exponent E per row, so the GEMM needs no
// per-(row, block) scaling inside its K loop: it multiplies fp16 tiles and applies 2^E per output.
//
// Exactness: q has 4 significant bits, |q| <= 448 and a quantum >= 2^-9, so q * 2^s is an exact
// fp16 (subnormals included) for -15 <= s <= 7. E = max_b e_b - 7 gives s <= 7 for every block.
// A "wide" row, with a block more than 22 binades below its largest, cannot be represented so:
// it keeps q unscaled (E = max_b e_b, flag set) and the GEMM applies 2^(e_b - E) to each 128-K
// partial sum of such rows (its slow path, exact too).
//
// QUANT false (wo_a: the reference's bf16 einsum takes o unquantised): the same layout with
// x / 2^e_b in place of q. Its values have 8 significant bits, not 4, so those below 2^-17 (in
// the stored scale) round to the fp16 grid: each off by <= 2^-25 where the row's largest is
// >= 2^14 (2^-39 of it, below the fp32 sums' own rounding).
//
// Scratch (uvec4-aligned sections, all rows of each before the next): fp16 [V, KP] (K rounded up
// to the GEMM's K step, the padding zero; V = max_rows * groups virtual rows v = m * groups + g,
// group g reading x columns [g*K, (g+1)*K)), ivec2 [V] (E, wide), int [V, nb] (per-block
// exponent f with x = value * 2^f: E, or e_b in wide rows).
//
// Workgroup: one virtual row, 256 threads, vec4 chunks; block maxima meet in shared atomics
// (uint order of non-negative floats), valid for every subgroup size.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256) in;

layout(constant_id = 3) const uint MAXB = 256;  // 128-blocks per row the shared arrays hold
layout(constant_id = 4) const bool QUANT = true;  // e4m3-round (act_quant), or keep the values

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, set = 0, binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Q2 { uvec2 q2[]; };
layout(std430, set = 0, binding = 3) writeonly buffer RowInfo { ivec2 row_info[]; };
layout(std430, set = 0, binding = 4) writeonly buffer BlockExp { int block_exp[]; };

layout(push_constant) uniform Push {
  uint K;         // columns per group (% 16 == 0)
  uint x_stride;  // fp32 per activation row (groups * K)
  uint KP;        // padded fp16 per virtual row (% 8 == 0, >= K)
  uint groups;
} pc;

shared uint bmax[MAXB];
shared int emax, emin;

void main() {
  const uint t = gl_LocalInvocationID.x, v = gl_WorkGroupID.x;
  const uint m = v / pc.groups, g = v % pc.groups;
  if (m >= step.n_rows) return;  // uniform over the workgroup
  const uint nb = (pc.K + 127u) / 128u;
  for (uint b = t; b < nb; b += 256u) bmax[b] = 0u;
  if (t == 0u) {
    emax = -100000;
    emin = 100000;
  }
  barrier();
  const uint x0 = (m * pc.x_stride + g * pc.K) / 4u;  // K % 16 == 0: whole vec4s
  for (uint c = t; c < pc.K / 4u; c += 256u) {
    const vec4 a = abs(x4[x0 + c]);
    atomicMax(bmax[c / 32u], floatBitsToUint(max(max(a.x, a.y), max(a.z, a.w))));
  }
  barrier();
  int local_max = -100000, local_min = 100000;
  for (uint b = t; b < nb; b += 256u) {
    const int e = fp8_scale_exponent(uintBitsToFloat(bmax[b]));
    local_max = max(local_max, e);
    local_min = min(local_min, e);
  }
  atomicMax(emax, local_max);
  atomicMin(emin, local_min);
  barrier();
  const bool wide = emin < emax - 22;
  const int E = wide ? emax : emax - 7;
  const uint q0 = v * (pc.KP / 4u);  // uvec2 = 4 fp16
  for (uint c = t; c < pc.KP / 4u; c += 256u) {
    uvec2 h = uvec2(0u);
    if (c < pc.K / 4u) {
      const vec4 xv = x4[x0 + c];
      const int e = fp8_scale_exponent(uintBitsToFloat(bmax[c / 32u]));
      vec4 q;
      for (uint i = 0u; i < 4u; ++i) {
        const float u = ldexp(xv[i], -e);
        q[i] = ldexp(QUANT ? e4m3_round(u) : u, wide ? 0 : e - E);
      }
      h = uvec2(packHalf2x16(q.xy), packHalf2x16(q.zw));
    }
    q2[q0 + c] = h;
  }
  for (uint b = t; b < nb; b += 256u) block_exp[v * nb + b] = wide ? fp8_scale_exponent(uintBitsToFloat(bmax[b])) : E;
  if (t == 0u) row_info[v] = ivec2(E, wide ? 1 : 0);
}
