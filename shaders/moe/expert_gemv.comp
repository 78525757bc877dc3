#version 450
#extension GL_GOOGLE_include_directive : require
// Grouped expert GEMV for FP8 stacks (model-spec §3.6, §4.2): the shared expert, and the routed
// experts of base checkpoints (MXFP4 stacks take expert_gemv_fp4.comp: same bindings, push
// constants and grid). For every (step row, expert slot) the selected expert's matrix times the
// act-quantised input row; only the selected experts' weights are read. Workgroup y = step row *
// n_slots + slot (rows >= n_rows skipped), x = a tile of output rows. The input row is staged once
// in shared memory (weights are the only DRAM stream); 4 units of 64 threads each stream RPU
// weight rows word by word (coalesced 256-byte runs), each word's dot taken on the raw codes then
// scaled by the fp32 block scale, and the 64 partial sums of each row are tree-reduced in shared
// memory (the same order on every device, whatever its subgroup size).
//   MODE 0 (gate/up): units 0,1 = w1 rows, units 2,3 = the same w3 rows (2 * RPU rows per
//          workgroup); h = bf16(weight * silu(min(g, L)) * clamp(u, -L, L)) with g, u the bf16
//          linear outputs (graph::expert_forward).
//   MODE 1 (down):    4 * RPU output rows of w2 per workgroup, out = bf16(linear).
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 1;  // must be 1: FP8 (e4m3 + fp32 128x128 scales)
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint RPU = 4;          // rows per unit
layout(constant_id = 3) const uint XS_VEC4 = 1024;   // >= cols / 4: the staged input row
layout(constant_id = 4) const bool QUANT_X = false;  // act-quantise the raw input row while staging it

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
  uint topk;                  // route layout: per row k ids then k weights
  uint n_slots, slot_base;    // slots of this dispatch; their index in the k+1 slots of a row
  uint shared_expert;         // 1: expert 0 of the stack, no routing weight
  uint data_stride16;         // one matrix's bytes / 16
  uint scale_stride;          // one matrix's scale bytes
  float swiglu_limit;
  uint in_per_row;            // input rows per step row (1: x; k+1: h)
  uint io_slot0;              // the slot of step row 0 at which h (as input) and out are bound
} p;

const uint THREADS_PER_ROW = 64u;
shared vec4 xs[XS_VEC4];
shared float red[RPU][256];
#include "stage_quant.glsl"

// 4 FP8 codes of a word times the staged inputs 4w..4w+3, divided by 256. An e4m3 code's bits
// moved into fp16 position (s eeee mmm -> s 0eeee mmm0000000) read exactly 2^-8 times its value,
// normals and subnormals alike, so two codes decode per shift-and-mask and unpackHalf2x16 (NaN
// codes would not survive this, and are refused when the weights load).
float fp8_word_div256(uint q, uint w) {
  const vec4 a = xs[w];
  const uint odd = q >> 8;
  const vec2 v02 = unpackHalf2x16(((q & 0x007f007fu) << 7) | ((q & 0x00800080u) << 8));
  const vec2 v13 = unpackHalf2x16(((odd & 0x007f007fu) << 7) | ((odd & 0x00800080u) << 8));
  return a.x * v02.x + a.y * v13.x + a.z * v02.y + a.w * v13.y;
}

// The word loads of one loop step (word w of the RPU rows) of this thread: codes and fp32 scales.
void load_words(bool b, uint mbase, uint sbase, uint scols, uint rows[RPU], uint w, out uint q[RPU], out uint sb[RPU]) {
  const uint words = p.cols / 4u;
  for (uint i = 0u; i < RPU; ++i) {
    const uint di = mbase + rows[i] * words + w, si = sbase + (rows[i] / 128u) * scols + w / 32u;
    q[i] = b ? wb[di] : wa[di];
    sb[i] = b ? wb_scale[si] : wa_scale[si];
  }
}

// The input row `xrow` into xs: act-quantised (QUANT_X) or as it is. All invocations call it.
void stage_input(uint xrow) {
  if (QUANT_X) {
    stage_act_quant(xrow * (p.cols / 4u), p.cols);
  } else {
    for (uint i = gl_LocalInvocationID.x; i < p.cols / 4u; i += 256u) xs[i] = xin[xrow * (p.cols / 4u) + i];
    barrier();
  }
}

// This thread's shares of the RPU rows row0 + i * phases + phase of matrix `m` (stack index) of
// operand A (b == false) or B, into red[i][lid]. The loads of all RPU rows are issued together
// so that each thread keeps RPU reads in flight (a decode step is one wave: latency-bound
// otherwise): the first step's before the input row is staged, and each step's next before it
// uses its own, in both modes (on an H100: Pro's shared gate/up 53.2 -> 47.5 us, Flash's shared
// expert within 1 us). Rows past the matrix read its last row and are dropped.
void unit_partials(bool b, uint m, uint row0, uint phases, uint phase, uint xrow) {
  const uint lid = gl_LocalInvocationID.x;
  const uint t = lid % THREADS_PER_ROW;
  const uint words = p.cols / 4u;
  uint rows[RPU];
  float acc[RPU];
  for (uint i = 0u; i < RPU; ++i) {
    rows[i] = min(row0 + i * phases + phase, p.rows - 1u);
    acc[i] = 0.0;
  }
  const uint mbase = m * (p.data_stride16 * 4u);
  const uint scols = (p.cols + 127u) / 128u;
  const uint sbase = m * (p.scale_stride / 4u);
  uint q[RPU], sb[RPU], nq[RPU], nsb[RPU];
  load_words(b, mbase, sbase, scols, rows, min(t, words - 1u), q, sb);
  stage_input(xrow);
  for (uint w = t; w < words; w += THREADS_PER_ROW) {
    load_words(b, mbase, sbase, scols, rows, min(w + THREADS_PER_ROW, words - 1u), nq, nsb);
    for (uint i = 0u; i < RPU; ++i) acc[i] += times_scale(fp8_word_div256(q[i], w) * 256.0, sb[i]);
    for (uint i = 0u; i < RPU; ++i) q[i] = nq[i], sb[i] = nsb[i];
  }
  for (uint i = 0u; i < RPU; ++i) red[i][lid] = row0 + i * phases + phase < p.rows ? acc[i] : 0.0;
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
  const uint io_row = step_row * k1 + slot - p.io_slot0;  // this pair's row of h and out
  const uint xrow = p.in_per_row == 1u ? step_row : io_row;
  const uint lid = gl_LocalInvocationID.x;
  const uint unit = lid / THREADS_PER_ROW;
  const uint t = lid % THREADS_PER_ROW;
  // MODE 0: unit & 1 picks the row parity, unit >> 1 the matrix (w1, w3); MODE 1: 4 row phases.
  const uint phases = MODE == 0u ? 2u : 4u;
  const uint phase = MODE == 0u ? (unit & 1u) : unit;
  const bool use_b = MODE == 0u && unit >= 2u;
  const uint row0 = gl_WorkGroupID.x * phases * RPU;
  unit_partials(use_b, expert, row0, phases, phase, xrow);
  barrier();
  for (uint s = THREADS_PER_ROW / 2u; s > 0u; s >>= 1) {
    if (t < s) {
      for (uint i = 0u; i < RPU; ++i) red[i][lid] += red[i][lid + s];
    }
    barrier();
  }
  // Row row0 + i * phases + ph sits in red[i][unit * 64] of its unit.
  if (lid < phases * RPU) {
    const uint i = lid / phases, ph = lid % phases;
    const uint r = row0 + i * phases + ph;
    if (r < p.rows) {
      if (MODE == 0u) {
        float g = round_bf16(red[i][ph * THREADS_PER_ROW]);
        float u = round_bf16(red[i][(ph + 2u) * THREADS_PER_ROW]);
        if (p.swiglu_limit > 0.0) {
          u = clamp(u, -p.swiglu_limit, p.swiglu_limit);
          g = min(g, p.swiglu_limit);
        }
        float h = silu(g) * u;
        if (p.shared_expert == 0u) h = weight * h;
        outv[io_row * p.rows + r] = round_bf16(h);
      } else {
        outv[io_row * p.rows + r] = round_bf16(red[i][ph * THREADS_PER_ROW]);
      }
    }
  }
}
