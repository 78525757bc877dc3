#version 450
// data[i] += value over the whole bound range (its length from the descriptor): for slices of
// buffers larger than maxStorageBufferRange.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Data { uint data[]; };
layout(push_constant) uniform Params { uint value; } p;

void main() {
  const uint n = uint(data.length());
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) data[i] += p.value;
}
