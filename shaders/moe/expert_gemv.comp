#version 450
#extension GL_GOOGLE_include_directive : require
// Grouped expert GEMV for FP8 stacks (model-spec §3.6, §4.2): the shared expert, and the routed
// experts of base checkpoints (MXFP4 stacks take expert_gemv_fp4.comp, or expert_gemv_mixed.comp
// together with an FP8 shared expert: same bindings, push constants and grid). For every (step
// row, expert slot) the selected expert's matrix times the act-quantised input row; only the
// selected experts' weights are read (expert_gemv_io.glsl, expert_partials_fp8.glsl).
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 1;  // must be 1: FP8 (e4m3 + fp32 128x128 scales)
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint RPU = 4;          // rows per unit
layout(constant_id = 3) const uint XS_VEC4 = 1024;   // >= cols / 4: the staged input row
layout(constant_id = 4) const bool QUANT_X = false;  // act-quantise the raw input row while staging it

#include "expert_gemv_io.glsl"
#include "expert_partials_fp4.glsl"
#include "expert_partials_fp8.glsl"

bool slot_is_fp8(bool shared_slot) { return true; }

#include "expert_gemv_main.glsl"
