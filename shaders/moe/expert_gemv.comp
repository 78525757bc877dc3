#version 450
#extension GL_GOOGLE_include_directive : require
// Grouped expert GEMV (model-spec §3.6, §4.2): for every (step row, expert slot) the selected
// expert's FP4 or FP8 matrix times the act-quantised input row; only the selected experts'
// weights are read. Workgroup y = step row * n_slots + slot (rows >= n_rows skipped), x = a tile
// of output rows. 64 threads per output row stream its 16-byte chunks (coalesced), each chunk's
// dot taken on the raw codes then scaled (FP4: ldexp by the e8m0 exponent, exact for tiny scales),
// and the 64 partial sums are tree-reduced in shared memory (the same order on every device).
//   MODE 0 (gate/up): units 0,1 = w1 rows 2x, 2x+1; units 2,3 = w3 rows; h = bf16(weight *
//          silu(min(g, L)) * clamp(u, -L, L)) with g, u the bf16 linear outputs (expert_forward).
//   MODE 1 (down):    4 output rows of w2 per workgroup, out = bf16(linear).
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 0;  // 0 FP4 (packed e2m1 + e8m0 per 32), 1 FP8 (e4m3 + fp32 128x128)
layout(constant_id = 1) const uint MODE = 0;

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) readonly buffer In { vec4 xin[]; };
layout(std430, binding = 3) readonly buffer WaData { uvec4 wa[]; };
layout(std430, binding = 4) readonly buffer WaScale { uint wa_scale[]; };
layout(std430, binding = 5) readonly buffer WbData { uvec4 wb[]; };
layout(std430, binding = 6) readonly buffer WbScale { uint wb_scale[]; };
layout(std430, binding = 7) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform Params {
  uint rows, cols;            // of one matrix [rows, cols]
  uint topk;                  // route layout: per row k ids then k weights
  uint n_slots, slot_base;    // slots of this dispatch; their index in the k+1 slots of a row
  uint shared_expert;         // 1: expert 0 of the stack, no routing weight
  uint data_stride16;         // one matrix's bytes / 16
  uint scale_stride;          // one matrix's scale bytes
  float swiglu_limit;
  uint in_per_row;            // input rows per step row (1: x; k+1: h)
} p;

const uint THREADS_PER_ROW = 64u;
shared float red[256];

float fp4_chunk(uvec4 w, uint xbase) {
  float acc = 0.0;
  for (uint j = 0u; j < 4u; ++j) {
    const vec4 a = xin[xbase + 2u * j], b = xin[xbase + 2u * j + 1u];
    const uint q = w[j];
    acc += a.x * e2m1_to_float(q) + a.y * e2m1_to_float(q >> 4) + a.z * e2m1_to_float(q >> 8) +
           a.w * e2m1_to_float(q >> 12);
    acc += b.x * e2m1_to_float(q >> 16) + b.y * e2m1_to_float(q >> 20) + b.z * e2m1_to_float(q >> 24) +
           b.w * e2m1_to_float(q >> 28);
  }
  return acc;
}

float fp8_chunk(uvec4 w, uint xbase) {
  float acc = 0.0;
  for (uint j = 0u; j < 4u; ++j) {
    const vec4 a = xin[xbase + j];
    const uint q = w[j];
    acc += a.x * e4m3_to_float(q & 0xffu) + a.y * e4m3_to_float((q >> 8) & 0xffu) +
           a.z * e4m3_to_float((q >> 16) & 0xffu) + a.w * e4m3_to_float(q >> 24);
  }
  return acc;
}

uint scale_byte(uint word, uint byte_index) { return byte_in_word(word, byte_index); }

// v * s for an fp32 scale given by its bits, as v * significand then an exact ldexp: the same
// rounding as v * s, and right even for a denormal s (e8m0 0x00 = 2^-127) on devices that flush.
float times_scale(float v, uint sbits) {
  const uint e = (sbits >> 23) & 0xffu, m = sbits & 0x7fffffu;
  const float r = e == 0u ? ldexp(v * float(m), -149) : ldexp(v * float(m | 0x800000u), int(e) - 150);
  return (sbits & 0x80000000u) != 0u ? -r : r;
}

// This thread's share of row `r` of matrix `m` (stack index) of operand A (b == false) or B.
float row_partial(bool b, uint m, uint r, uint xrow) {
  const uint t = gl_LocalInvocationID.x % THREADS_PER_ROW;
  const uint elems = FORMAT == 0u ? 32u : 16u;  // per 16-byte chunk
  const uint chunks = p.cols / elems;
  const uint dbase = m * p.data_stride16 + r * chunks;
  const uint xbase = xrow * (p.cols / 4u);
  float acc = 0.0;
  for (uint c = t; c < chunks; c += THREADS_PER_ROW) {
    const uvec4 w = b ? wb[dbase + c] : wa[dbase + c];
    if (FORMAT == 0u) {
      const uint si = m * p.scale_stride + r * (p.cols / 32u) + c;
      const uint sw = b ? wb_scale[si >> 2] : wa_scale[si >> 2];
      acc += ldexp(fp4_chunk(w, xbase + c * 8u), e8m0_exponent(scale_byte(sw, si)));
    } else {
      const uint scols = (p.cols + 127u) / 128u;
      const uint si = m * (p.scale_stride / 4u) + (r / 128u) * scols + (c * 16u) / 128u;
      acc += times_scale(fp8_chunk(w, xbase + c * 4u), b ? wb_scale[si] : wa_scale[si]);
    }
  }
  return acc;
}

float silu(float v) { return v / (1.0 + exp(-v)); }

void main() {
  const uint step_row = gl_WorkGroupID.y / p.n_slots;
  if (step_row >= step.n_rows) return;
  const uint slot = p.slot_base + gl_WorkGroupID.y % p.n_slots;
  uint expert = 0u;
  float weight = 1.0;
  if (p.shared_expert == 0u) {
    expert = route[step_row * 2u * p.topk + slot];
    weight = uintBitsToFloat(route[step_row * 2u * p.topk + p.topk + slot]);
  }
  const uint k1 = p.topk + 1u;
  const uint xrow = p.in_per_row == 1u ? step_row : step_row * k1 + slot;
  const uint unit = gl_LocalInvocationID.x / THREADS_PER_ROW;
  const uint t = gl_LocalInvocationID.x % THREADS_PER_ROW;
  uint r;
  bool use_b = false;
  if (MODE == 0u) {
    r = gl_WorkGroupID.x * 2u + (unit & 1u);
    use_b = unit >= 2u;
  } else {
    r = gl_WorkGroupID.x * 4u + unit;
  }
  red[gl_LocalInvocationID.x] = r < p.rows ? row_partial(use_b, expert, r, xrow) : 0.0;
  barrier();
  for (uint s = THREADS_PER_ROW / 2u; s > 0u; s >>= 1) {
    if (t < s) red[gl_LocalInvocationID.x] += red[gl_LocalInvocationID.x + s];
    barrier();
  }
  const uint lid = gl_LocalInvocationID.x;
  if (MODE == 0u) {
    const uint rr = gl_WorkGroupID.x * 2u + lid;
    if (lid < 2u && rr < p.rows) {
      float g = round_bf16(red[lid * THREADS_PER_ROW]);
      float u = round_bf16(red[(lid + 2u) * THREADS_PER_ROW]);
      if (p.swiglu_limit > 0.0) {
        u = clamp(u, -p.swiglu_limit, p.swiglu_limit);
        g = min(g, p.swiglu_limit);
      }
      float h = silu(g) * u;
      if (p.shared_expert == 0u) h = weight * h;
      outv[(step_row * k1 + slot) * p.rows + rr] = round_bf16(h);
    }
  } else {
    const uint rr = gl_WorkGroupID.x * 4u + lid;
    if (lid < 4u && rr < p.rows) outv[(step_row * k1 + slot) * p.rows + rr] = round_bf16(red[lid * THREADS_PER_ROW]);
  }
}
