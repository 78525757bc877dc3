#version 450
// acc[i] += x[i]: each submission depends on the previous one's writes.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) buffer Acc { uint acc[]; };
layout(push_constant) uniform Params { uint count; } p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) acc[i] += x[i];
}
