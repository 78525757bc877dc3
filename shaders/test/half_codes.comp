#version 450
// The fp16 encodings of weight codes the cooperative-matrix GEMMs stage (formats.glsl), on any
// device: tests/vk/formats_gpu_test.cpp compares every output with weights/formats.h. Invocation i:
//   e2m1: the word w = i * 0x01010101 (every code pair in every byte position) -> four words.
//   e4m3: the word w = i * 0x01010101 ^ (i << 8) (every code in every byte position) -> two words.
#extension GL_GOOGLE_include_directive : require
#include "formats.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) writeonly buffer Out { uint words[]; };
layout(push_constant) uniform Params {
  uint format;  // 0 e2m1, 1 e4m3
  uint count;   // invocations
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.count) return;
  if (p.format == 0u) {
    const uvec4 h = e2m1x8_half_bits(i * 0x01010101u);
    for (uint k = 0u; k < 4u; ++k) words[4u * i + k] = h[k];
  } else {
    const uvec2 h = e4m3x4_half_bits((i * 0x01010101u) ^ (i << 8));
    words[2u * i] = h.x;
    words[2u * i + 1u] = h.y;
  }
}
