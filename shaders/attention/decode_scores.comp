#version 450
// Decode attention's register-tiled scores: decode_scores_main.glsl, with no probe cut.
#extension GL_GOOGLE_include_directive : require
#define SCORES_PROBE 0u
#include "decode_scores_main.glsl"
