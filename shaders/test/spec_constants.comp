#version 450
// Specialization constants: a value and the workgroup width, both set at pipeline creation.
layout(local_size_x_id = 1) in;
layout(constant_id = 0) const uint VALUE = 7u;
layout(std430, binding = 0) writeonly buffer Out { uint data[]; };

void main() { data[gl_GlobalInvocationID.x] = VALUE * 1000u + gl_WorkGroupSize.x; }
