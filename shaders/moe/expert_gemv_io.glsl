// The expert GEMVs' common declarations (expert_gemv.comp for FP8 stacks, expert_gemv_fp4.comp for
// MXFP4 ones, expert_gemv_mixed.comp for MXFP4 routed experts with an FP8 shared expert): the
// bindings, push constants, the staged input row and the reduction space. The including shader
// declares the spec constants MODE, RPU (rows per unit), XS_VEC4 (the staged row's size) and
// QUANT_X (act-quantise the raw input row while staging it), includes expert_partials_fp4.glsl and
// expert_partials_fp8.glsl, defines
//   bool slot_is_fp8(bool shared_slot)  (which partials a workgroup's slot takes)
// and includes expert_gemv_main.glsl.
#ifndef DSV4_MOE_EXPERT_GEMV_IO_GLSL
#define DSV4_MOE_EXPERT_GEMV_IO_GLSL

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "expert_scale.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) readonly buffer In { vec4 xin[]; };
layout(std430, binding = 3) readonly buffer WaData { uint wa[]; };
layout(std430, binding = 4) readonly buffer WaScale { uint wa_scale[]; };
layout(std430, binding = 5) readonly buffer WbData { uint wb[]; };
layout(std430, binding = 6) readonly buffer WbScale { uint wb_scale[]; };
layout(std430, binding = 7) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform Params {
  uint rows, cols;            // of one matrix [rows, cols]
  uint topk;                  // route layout: per row k ids then k weights; slot k is the shared expert
  uint n_slots, slot_base;    // slots of this dispatch: slot_base, slot_base + 1, ... modulo k+1
  uint data_stride16;         // one routed matrix's bytes / 16
  uint scale_stride;          // one routed matrix's scale bytes
  float swiglu_limit;
  uint in_per_row;            // input rows per step row (1: x; k+1: h)
  uint io_slot0;              // the slot of step row 0 at which h (as input) and out are bound
} p;

const uint THREADS_PER_ROW = 64u;
shared vec4 xs[XS_VEC4];
shared float red[RPU][256];
#include "stage_quant.glsl"

#endif
