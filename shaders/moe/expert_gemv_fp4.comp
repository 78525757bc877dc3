#version 450
#extension GL_GOOGLE_include_directive : require
// Grouped expert GEMV for MXFP4 stacks (model-spec §3.6, §4.2), the decode fast path of
// expert_gemv.comp (same bindings, push constants, grid and outputs; FP8 stacks stay there): for
// every (step row, expert slot) the selected expert's matrix times the act-quantised input row
// (expert_gemv_io.glsl, expert_partials_fp4.glsl).
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 0;  // must be 0: FP4 (packed e2m1 + e8m0 per 32)
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint RPU = 4;          // rows per unit
layout(constant_id = 3) const uint XS_VEC4 = 1;     // QUANT_X: >= cols / 4, the staged input row
layout(constant_id = 4) const bool QUANT_X = false;  // stage and act-quantise the raw input row here

#include "expert_gemv_io.glsl"
#include "expert_partials_fp4.glsl"
#include "expert_partials_fp8.glsl"

bool slot_is_fp8(bool shared_slot) { return false; }

#include "expert_gemv_main.glsl"
