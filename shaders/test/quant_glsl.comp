#version 450
// Every function of shaders/common/quant.glsl applied to each input, for tests/gpu/shared.
#extension GL_GOOGLE_include_directive : require
#include "quant.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { uint o[]; };  // 8 words per input
layout(push_constant) uniform P { uint n; };

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= n) return;
  const float v = x[i];
  const float r8 = e4m3_round(v), r4 = e2m1_round(v);
  o[8 * i + 0] = floatBitsToUint(r8);
  o[8 * i + 1] = e4m3_code(r8);
  o[8 * i + 2] = floatBitsToUint(r4);
  o[8 * i + 3] = e2m1_code(r4);
  o[8 * i + 4] = uint(fp8_scale_exponent(abs(v)) + 1000);
  o[8 * i + 5] = uint(fp4_scale_exponent(abs(v)) + 1000);
  o[8 * i + 6] = floatBitsToUint(round_bf16(v));
  o[8 * i + 7] = floatBitsToUint(fp8_roundtrip(v, fp8_scale_exponent(abs(v) * 3.0)));
}
