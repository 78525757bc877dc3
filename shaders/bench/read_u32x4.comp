#version 450
// Memory-bandwidth probe: every invocation streams 16-byte loads over the buffer (grid-stride)
// and folds them; the result is stored only under a condition the compiler cannot prove false,
// so the loads stay.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(std430, binding = 1) writeonly buffer Sink { uint sink[]; };
layout(push_constant) uniform Params { uint count; uint magic; } p;  // count in uvec4

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  uvec4 acc = uvec4(0u);
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) acc ^= src[i];
  const uint folded = acc.x ^ acc.y ^ acc.z ^ acc.w;
  if (folded == p.magic) sink[0] = folded;
}
