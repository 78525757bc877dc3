#version 450
// Query heads after wq_b for prefill on cooperative matrices: q_heads_main.glsl's arithmetic, the
// results written as q_half.comp's exact fp16 queries and shifts (instead of in place on q), so
// the q_half dispatch and its pass over q go.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define QH_HALF_OUT
#include "q_heads_main.glsl"
