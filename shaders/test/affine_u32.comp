#version 450
// y[i] = x[i] * a + b (uint, wrapping): a kernel whose result is easy to predict on the CPU, for
// tests of recordings and barriers. Grid-stride loop: any count with any group count.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Params { uint a; uint b; uint count; } p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) y[i] = x[i] * p.a + p.b;
}
