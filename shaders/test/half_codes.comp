#version 450
// The fp16 encodings of weight codes the cooperative-matrix GEMMs stage (formats.glsl), on any
// device: tests/vk/formats_gpu_test.cpp compares every output with weights/formats.h. Invocation i:
//   e2m1: byte i % 256 (two codes) scaled by 2^j, j = i / 256 - 13 (-13..13) -> one word.
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
    const uint byte = i % 256u;
    const int j = int(i / 256u) - 13;
    words[i] = e2m1x2_half_bits((byte & 0x0fu) | ((byte & 0xf0u) << 12), 0x400u + (uint(j + 13) << 10));
  } else {
    const uvec2 h = e4m3x4_half_bits((i * 0x01010101u) ^ (i << 8));
    words[2u * i] = h.x;
    words[2u * i + 1u] = h.y;
  }
}
