#version 450
// graph::hc_pre, one workgroup per row: hc_pre_main.glsl.
#extension GL_GOOGLE_include_directive : require
#include "hc_pre_main.glsl"
