#version 450
// Writes a VkDispatchIndirectCommand for `count` items of a 64-wide kernel: tests indirect dispatch
// and the barrier between a GPU-written argument buffer and its use.
layout(local_size_x = 1) in;
layout(std430, binding = 0) writeonly buffer Args { uint args[3]; };
layout(push_constant) uniform Params { uint count; } p;

void main() {
  args[0] = (p.count + 63u) / 64u;
  args[1] = 1u;
  args[2] = 1u;
}
