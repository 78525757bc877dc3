#version 450
#extension GL_GOOGLE_include_directive : require
// kv_finish_main.glsl with kv_norm fused: kv = rms_norm(raw), then RoPE and the FP8 round-trip.
#define KV_NORM
#include "kv_finish_main.glsl"
