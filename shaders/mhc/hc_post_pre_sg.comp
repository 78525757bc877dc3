#version 450
// hc_post_pre.comp with the Sinkhorn iterations in one subgroup while the others collapse
// (hc_pre_main.glsl, HC_SUBGROUP_SINKHORN; for devices with subgroup shuffles, graph/vulkan/mhc.cpp).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#define HC_SUBGROUP_SINKHORN
#include "hc_post_pre_main.glsl"
