#version 450
#extension GL_GOOGLE_include_directive : require
// The routed experts' and the shared expert's GEMVs of a decode step as one dispatch, for the
// released checkpoints' formats: MXFP4 routed stacks (bindings 3-6, expert_partials_fp4.glsl) and
// an FP8 shared expert (bindings 8-11, expert_partials_fp8.glsl). Slots 0..k-1 of every step row
// are the routed experts, slot k the shared one; each workgroup takes its slot's path (a whole
// workgroup branches alike, so the staging barriers stay uniform). The results are those of
// expert_gemv_fp4.comp and expert_gemv.comp bit for bit: each keeps its order and arithmetic.
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 0;  // routed: must be 0 (FP4); shared: FP8
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint RPU = 4;          // rows per unit
layout(constant_id = 3) const uint XS_VEC4 = 1024;   // >= cols / 4: the staged input row (FP8 always stages)
layout(constant_id = 4) const bool QUANT_X = false;  // act-quantise the raw input row while staging it

#include "expert_gemv_io.glsl"
layout(std430, binding = 8) readonly buffer ShAData { uint sh_a[]; };
layout(std430, binding = 9) readonly buffer ShAScale { uint sh_a_scale[]; };
layout(std430, binding = 10) readonly buffer ShBData { uint sh_b[]; };
layout(std430, binding = 11) readonly buffer ShBScale { uint sh_b_scale[]; };
#define FP8_A sh_a
#define FP8_A_SCALE sh_a_scale
#define FP8_B sh_b
#define FP8_B_SCALE sh_b_scale
#include "expert_partials_fp4.glsl"
#include "expert_partials_fp8.glsl"

bool slot_is_fp8(bool shared_slot) { return shared_slot; }

#include "expert_gemv_main.glsl"
