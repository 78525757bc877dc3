#version 450
#extension GL_GOOGLE_include_directive : require
// kv_finish_main.glsl in place on kv (kv_norm ran before).
#include "kv_finish_main.glsl"
