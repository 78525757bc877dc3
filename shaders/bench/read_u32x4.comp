#version 450
// Memory-bandwidth probe: every invocation streams 16-byte loads over the buffer (grid-stride,
// four independent loads in flight per iteration so latency does not limit a thread) and folds
// them; the result is stored only under a condition the compiler cannot prove false, so the
// loads stay.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(std430, binding = 1) writeonly buffer Sink { uint sink[]; };
layout(push_constant) uniform Params { uint count; uint magic; } p;  // count in uvec4

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  uvec4 a0 = uvec4(0u), a1 = uvec4(0u), a2 = uvec4(0u), a3 = uvec4(0u);
  uint i = gl_GlobalInvocationID.x;
  for (; i + 3u * stride < p.count; i += 4u * stride) {
    a0 ^= src[i];
    a1 ^= src[i + stride];
    a2 ^= src[i + 2u * stride];
    a3 ^= src[i + 3u * stride];
  }
  for (; i < p.count; i += stride) a0 ^= src[i];
  const uvec4 acc = a0 ^ a1 ^ a2 ^ a3;
  const uint folded = acc.x ^ acc.y ^ acc.z ^ acc.w;
  if (folded == p.magic) sink[0] = folded;
}
