#version 450
// hc_post fused with the next hc_pre (decode): hc_post_pre_main.glsl.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "hc_post_pre_main.glsl"
