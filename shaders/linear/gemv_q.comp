#version 450
// FP8 GEMV with act_quant: gemv_q_main.glsl.
#extension GL_GOOGLE_include_directive : require
#include "gemv_q_main.glsl"
