#version 450
// decode_scores_probe.comp with the key decode in a rolled loop (decode_scores_main.glsl
// SCORES_ROLLED): the same loads, a quarter of the decode's code, to tell whether instruction
// fetch, not memory, is what a chunk waits on.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
layout(constant_id = 0) const uint PROBE = 0u;
#define SCORES_PROBE PROBE
#define SCORES_ROLLED
#include "../attention/decode_scores_main.glsl"
