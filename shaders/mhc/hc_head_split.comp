#version 450
// graph::hc_head, decode path: the per-block dots of the mixes come from hc_mix_partials.comp
// (binding 6, [max_rows, M, blocks]); the rest as hc_head.comp (hc_head_main.glsl).
#extension GL_GOOGLE_include_directive : require
#define HC_MIX_PARTIALS_BINDING 6
#include "hc_head_main.glsl"
