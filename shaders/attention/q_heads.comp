#version 450
// Query heads after wq_b in place on q: q_heads_main.glsl.
#extension GL_GOOGLE_include_directive : require
#include "q_heads_main.glsl"
