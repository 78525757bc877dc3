#version 450
// Decodes packed codes of one number format per dispatch (tests/vk/formats_gpu_test.cpp compares
// every code point with weights/formats.h). Output: the fp32 bit pattern of each decoded value.
#extension GL_GOOGLE_include_directive : require
#include "formats.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Codes { uint codes[]; };
layout(std430, binding = 1) writeonly buffer Values { uint values[]; };
layout(push_constant) uniform Params {
  uint format;  // 0 e4m3, 1 e2m1, 2 e8m0, 3 bf16
  uint count;   // codes to decode
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.count) return;
  float v;
  if (p.format == 3u) v = bf16_to_float(half_in_word(codes[i >> 1], i));
  else if (p.format == 1u) v = e2m1_to_float(nibble_in_word(codes[i >> 3], i));
  else if (p.format == 2u) v = e8m0_to_float(byte_in_word(codes[i >> 2], i));
  else v = e4m3_to_float(byte_in_word(codes[i >> 2], i));
  values[i] = floatBitsToUint(v);
}
