#version 450
// hc_pre_split.comp with the Sinkhorn iterations in one subgroup (hc_pre_main.glsl,
// HC_SUBGROUP_SINKHORN; for devices with subgroup shuffles, graph/vulkan/mhc.cpp).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#define HC_MIX_PARTIALS_BINDING 8
#define HC_NORM_BINDINGS  // 9, 10: the fused RMSNorm
#define HC_TWO_ROLES      // two workgroups per row: collapse + norm, post + Sinkhorn
#define HC_SUBGROUP_SINKHORN
#include "hc_pre_main.glsl"
