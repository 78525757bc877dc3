#version 450
// graph::hc_pre, decode path: the per-block dots of the mixes come from hc_mix_partials.comp
// (binding 8, [max_rows, M, blocks]); the rest as hc_pre.comp (hc_pre_main.glsl).
#extension GL_GOOGLE_include_directive : require
#define HC_MIX_PARTIALS_BINDING 8
#define HC_NORM_BINDINGS  // 9, 10: the fused RMSNorm
#define HC_TWO_ROLES      // two workgroups per row: collapse + norm, post + Sinkhorn
#include "hc_pre_main.glsl"
