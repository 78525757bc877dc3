#version 450
#extension GL_GOOGLE_include_directive : require
// act_quant (model-spec §4.2) of fp32 rows before an FP8/FP4 linear: each block of 128 values
// becomes e4m3(x / s) * s, s the ue8m0 power of two of the block amax (bit-exact with
// graph::act_quant_fp8; a short last block is its own block). One workgroup per (block, row);
// workgroup row y belongs to step row y / units_per_row and is skipped past n_rows.
layout(local_size_x = 128) in;

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, binding = 1) readonly buffer Src { float src[]; };
layout(std430, binding = 2) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform Params { uint width, units_per_row; } p;

shared float amax[128];

void main() {
  const uint unit = gl_WorkGroupID.y;
  if (unit / p.units_per_row >= step.n_rows) return;
  const uint t = gl_LocalInvocationID.x;
  const uint col = gl_WorkGroupID.x * 128u + t;
  const uint i = unit * p.width + col;
  const float v = col < p.width ? src[i] : 0.0;
  amax[t] = abs(v);
  barrier();
  for (uint s = 64u; s > 0u; s >>= 1) {  // max is order-independent: exact
    if (t < s) amax[t] = max(amax[t], amax[t + s]);
    barrier();
  }
  if (col < p.width) dst[i] = fp8_quant(v, fp8_scale_exponent(amax[0]));
}
