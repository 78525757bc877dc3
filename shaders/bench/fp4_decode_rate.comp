#version 450
// ALU probe for bench/gpu_moe_bench.cpp: the MXFP4 expert GEMV's per-word arithmetic (8 e2m1
// codes decoded, dotted with 8 inputs, scaled by a block exponent, accumulated) on words made in
// registers, so no memory is read. It answers whether the decode, not memory, bounds the GEMV
// (session 20's fit: 1.95 TB/s of codes). MODE picks what a word costs:
//   0: as the GEMV (expert_partials_fp4.glsl fp4_word_dot: fp16 bit patterns, unpackHalf2x16);
//   1: the same integer work, the fp16 patterns read as fp32 bits (no conversion instructions);
//   2: fp32 bit patterns built straight from the codes (3 magnitude bits to bits 22-24, the sign to
//      bit 31: value * 2^-126, denormal-preserving arithmetic assumed; no conversions).
// The numbers are meaningless for MODE 1 and 2 (and for 2 without denormals); only the rate counts.
#extension GL_GOOGLE_include_directive : require
#include "formats.glsl"
#include "../moe/expert_scale.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint MODE = 0;
layout(std430, binding = 0) writeonly buffer Sink { float sink[]; };
layout(push_constant) uniform Push { uint iters; uint seed; } pc;

const uint WORDS = 4u;  // independent words per iteration (the GEMV's RPU rows in flight)

void decode_word(uint w, out vec4 lo, out vec4 hi) {
  if (MODE == 0u) {
    e2m1x8_scaled(w, lo, hi);
  } else if (MODE == 1u) {
    const uvec4 h = e2m1x8_half_bits(w);
    lo = uintBitsToFloat(h << 16);
    hi = uintBitsToFloat(h & 0xffff0000u);
  } else {
    const uint M = 0x01c00000u, S = 0x80000000u;
    lo = uintBitsToFloat(uvec4(((w << 22) & M) | ((w << 28) & S), ((w << 18) & M) | ((w << 24) & S),
                               ((w << 14) & M) | ((w << 20) & S), ((w << 10) & M) | ((w << 16) & S)));
    hi = uintBitsToFloat(uvec4(((w << 6) & M) | ((w << 12) & S), ((w << 2) & M) | ((w << 8) & S),
                               ((w >> 2) & M) | ((w << 4) & S), ((w >> 6) & M) | (w & S)));
  }
}

void main() {
  const uint gid = gl_GlobalInvocationID.x;
  const vec4 a = vec4(float(gid & 7u) * 0.25 + 1.0, 0.5, -1.5, 2.0), b = vec4(-0.75, 1.25, float(gid & 3u), 3.0);
  uint w[WORDS];
  float acc[WORDS];
  for (uint k = 0u; k < WORDS; ++k) {
    w[k] = (gid + k * 0x9e3779b9u) ^ pc.seed;
    acc[k] = 0.0;
  }
  for (uint i = 0u; i < pc.iters; ++i) {
    for (uint k = 0u; k < WORDS; ++k) {
      w[k] += 0x6d2b79f5u;  // the next word (an add: the GEMV pays an address add per load)
      vec4 lo, hi;
      decode_word(w[k], lo, hi);
      acc[k] += times_pow2(dot(lo, a) + dot(hi, b), int(w[k] >> 28) + 10);
    }
  }
  float s = 0.0;
  for (uint k = 0u; k < WORDS; ++k) s += acc[k];
  sink[gid] = s;
}
