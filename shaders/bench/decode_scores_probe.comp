#version 450
// Phase probe for bench/gpu_attention_bench.cpp: decode attention's scores kernel with one phase
// cut out (PROBE, attention/decode_scores_main.glsl SCORES_PROBE), to find what its ~36 us at 4K
// context (20-80 workgroups, a few microseconds of loads and arithmetic) is spent on.
#extension GL_GOOGLE_include_directive : require
layout(constant_id = 0) const uint PROBE = 0u;
#define SCORES_PROBE PROBE
#include "../attention/decode_scores_main.glsl"
