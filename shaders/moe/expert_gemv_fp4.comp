#version 450
#extension GL_GOOGLE_include_directive : require
// Grouped expert GEMV for MXFP4 stacks (model-spec §3.6, §4.2), the decode fast path of
// expert_gemv.comp (same bindings, push constants, grid and outputs; FP8 stacks stay there): for
// every (step row, expert slot) the selected expert's matrix times the act-quantised input row.
// The 64 threads of a row unit read consecutive 4-byte words (8 codes) of each of its RPU rows, so
// a warp's weight loads and its input loads (the word's 8 inputs, 32 bytes) are both contiguous
// and the inputs are reused by all RPU rows; a thread issues all RPU rows' loads of a word before
// using any (decode is latency-bound otherwise). Codes become fp16 by shifts (e2m1x8_scaled: no
// table, a few instructions per code, which must keep up with the memory), each word's 8 exact products
// are summed in fp32 and scaled by the block's e8m0 exponent (exact), and the 64 partial sums of
// a row meet in a fixed shared-memory tree (any subgroup size; the order depends only on the
// matrix shape, not on the batch).
//   MODE 0 (gate/up): units 0,1 = w1 rows, units 2,3 = the same w3 rows (2 * RPU rows per
//          workgroup); h = bf16(weight * silu(min(g, L)) * clamp(u, -L, L)) with g, u the bf16
//          linear outputs (graph::expert_forward).
//   MODE 1 (down):    4 * RPU output rows of w2 per workgroup, out = bf16(linear).
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 0;  // must be 0: FP4 (packed e2m1 + e8m0 per 32)
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint RPU = 4;          // rows per unit
layout(constant_id = 3) const uint XS_VEC4 = 1;     // QUANT_X: >= cols / 4, the staged input row
layout(constant_id = 4) const bool QUANT_X = false;  // stage and act-quantise the raw input row here
// Each step issues the next step's loads before using its own (gate/up only: on an H100 that took
// Flash's routed gate/up 51.9 -> 46.6 us and Pro's 126.1 -> 105.5, but down 26.8 -> 29.6 and
// Pro's 59.2 -> 63.6, with the first loads issued before the staging either way).
const bool PIPELINE = MODE == 0u;

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
shared float red[RPU][256];
shared vec4 xs[XS_VEC4];
#include "stage_quant.glsl"

// sum_j x[j] * e2m1(code j) over the 8 codes of word q (low nibble first), inputs a, b, in units
// of 2^-14 (e2m1x8_scaled; exact products, so the same sum as unscaled but for the power of two).
float word_dot(uint q, vec4 a, vec4 b) {
  vec4 lo, hi;
  e2m1x8_scaled(q, lo, hi);
  return dot(lo, a) + dot(hi, b);
}

// The word loads of one loop step (word w of the RPU rows) of this thread: codes and the words
// holding their scale bytes.
void load_words(bool b, uint mbase, uint sbase, uint rows[RPU], uint w, out uint q[RPU], out uint sw[RPU]) {
  const uint words = p.cols / 8u, blocks = p.cols / 32u, c = w >> 2;  // c: the word's 32-code block
  for (uint i = 0u; i < RPU; ++i) {
    const uint di = mbase + rows[i] * words + w, si = sbase + rows[i] * blocks + c;
    q[i] = b ? wb[di] : wa[di];
    sw[i] = b ? wb_scale[si >> 2] : wa_scale[si >> 2];
  }
}

// This thread's shares of the RPU rows row0 + i * phases + phase of matrix `m` (stack index) of
// operand A (b == false) or B, into red[i][lid]. Rows past the matrix read its last row and are
// dropped. The first step's loads are issued before the input row is staged (QUANT_X: an L2 read
// and three barriers every workgroup would otherwise wait through with nothing in flight).
void unit_partials(bool b, uint m, uint row0, uint phases, uint phase, uint xrow) {
  const uint lid = gl_LocalInvocationID.x;
  const uint t = lid % THREADS_PER_ROW;
  const uint words = p.cols / 8u, blocks = p.cols / 32u;
  uint rows[RPU];
  float acc[RPU];
  for (uint i = 0u; i < RPU; ++i) {
    rows[i] = min(row0 + i * phases + phase, p.rows - 1u);
    acc[i] = 0.0;
  }
  const uint mbase = m * p.data_stride16 * 4u, sbase = m * p.scale_stride;
  const uint xbase = xrow * (p.cols / 4u);
  uint q[RPU], sw[RPU], nq[RPU], nsw[RPU];
  load_words(b, mbase, sbase, rows, min(t, words - 1u), q, sw);
  if (QUANT_X) stage_act_quant(xbase, p.cols);
  for (uint w = t; w < words; w += THREADS_PER_ROW) {
    if (PIPELINE) load_words(b, mbase, sbase, rows, min(w + THREADS_PER_ROW, words - 1u), nq, nsw);
    else if (w != t) load_words(b, mbase, sbase, rows, w, q, sw);
    const uint c = w >> 2;
    const vec4 xa = QUANT_X ? xs[2u * w] : xin[xbase + 2u * w], xb = QUANT_X ? xs[2u * w + 1u] : xin[xbase + 2u * w + 1u];
    for (uint i = 0u; i < RPU; ++i) {
      const uint si = sbase + rows[i] * blocks + c;
      acc[i] += times_pow2(word_dot(q[i], xa, xb), e8m0_exponent(byte_in_word(sw[i], si)) + 14);
    }
    if (PIPELINE) {
      for (uint i = 0u; i < RPU; ++i) q[i] = nq[i], sw[i] = nsw[i];
    }
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
