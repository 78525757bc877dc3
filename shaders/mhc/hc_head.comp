#version 450
// graph::hc_head, one workgroup per row: hc_head_main.glsl.
#extension GL_GOOGLE_include_directive : require
#include "hc_head_main.glsl"
