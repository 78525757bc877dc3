// MXFP4 unit partials of the expert GEMVs (expert_gemv_io.glsl; model-spec §4.2: packed e2m1, low
// nibble first, an e8m0 exponent per 32): the 64 threads of a row unit read consecutive 4-byte
// words (8 codes) of each of its RPU rows, so a warp's weight loads and its input loads (the
// word's 8 inputs, 32 bytes) are both contiguous and the inputs are reused by all RPU rows; a
// thread issues all RPU rows' loads of a word before using any (decode is latency-bound
// otherwise). Codes become fp16 by shifts (e2m1x8_scaled: no table, a few instructions per code,
// which must keep up with the memory), each word's 8 exact products are summed in fp32 and scaled
// by the block's e8m0 exponent (exact). The input row is read from `xin` as it is, or from shared
// memory when QUANT_X has staged and act-quantised it. The matrices are bindings 3-6.
//
// FP4_WIDE: a thread reads 16-byte blocks instead (32 codes, one scale block: a quarter of the
// load instructions and one scale byte per block), so a row's 64 threads take 1,024 codes a step.
#ifndef DSV4_MOE_EXPERT_PARTIALS_FP4_GLSL
#define DSV4_MOE_EXPERT_PARTIALS_FP4_GLSL

// Each step issues the next step's loads before using its own (gate/up only: on an H100 that took
// Flash's routed gate/up 51.9 -> 46.6 us and Pro's 126.1 -> 105.5, but down 26.8 -> 29.6 and
// Pro's 59.2 -> 63.6, with the first loads issued before the staging either way).
const bool FP4_PIPELINE = MODE == 0u;
layout(constant_id = 5) const bool FP4_WIDE = false;

// The MXFP4 stacks' codes as 16-byte blocks (FP4_WIDE; rows are cols / 2 bytes, cols % 32 == 0,
// matrices 16-byte aligned).
layout(std430, binding = 3) readonly buffer WaBlocks { uvec4 wa4[]; };
layout(std430, binding = 5) readonly buffer WbBlocks { uvec4 wb4[]; };

// sum_j x[j] * e2m1(code j) over the 8 codes of word q (low nibble first), inputs a, b, in units
// of 2^-14 (e2m1x8_scaled; exact products, so the same sum as unscaled but for the power of two).
float fp4_word_dot(uint q, vec4 a, vec4 b) {
  vec4 lo, hi;
  e2m1x8_scaled(q, lo, hi);
  return dot(lo, a) + dot(hi, b);
}

// The word loads of one loop step (word w of the RPU rows of matrix m of operand A, or B) of this
// thread: codes and the words holding their scale bytes.
void fp4_load_words(bool b, uint m, uint rows[RPU], uint w, out uvec4 q[RPU], out uint sw[RPU]) {
  const uint words = p.cols / 8u, blocks = p.cols / 32u, c = w >> 2;  // c: the word's 32-code block
  const uint mbase = m * p.data_stride16 * 4u, sbase = m * p.scale_stride;
  for (uint i = 0u; i < RPU; ++i) {
    const uint di = mbase + rows[i] * words + w, si = sbase + rows[i] * blocks + c;
    q[i].x = b ? wb[di] : wa[di];
    sw[i] = b ? wb_scale[si >> 2] : wa_scale[si >> 2];
  }
}

// FP4_WIDE: the loads of 16-byte block k of the RPU rows: codes and the words holding their scale bytes.
void fp4_load_blocks(bool b, uint m, uint rows[RPU], uint k, out uvec4 q[RPU], out uint sw[RPU]) {
  const uint blocks = p.cols / 32u;
  const uint mbase = m * p.data_stride16, sbase = m * p.scale_stride;
  for (uint i = 0u; i < RPU; ++i) {
    const uint di = mbase + rows[i] * blocks + k, si = sbase + rows[i] * blocks + k;
    q[i] = b ? wb4[di] : wa4[di];
    sw[i] = b ? wb_scale[si >> 2] : wa_scale[si >> 2];
  }
}

// The first step's loads of this thread (issued before QUANT_X stages the input row: an L2 read
// and three barriers every workgroup would otherwise wait through with nothing in flight); codes
// in q[i].x (q[i] with FP4_WIDE).
void fp4_first_words(bool b, uint m, uint rows[RPU], out uvec4 q[RPU], out uint sw[RPU]) {
  const uint t = gl_LocalInvocationID.x % THREADS_PER_ROW;
  if (FP4_WIDE) fp4_load_blocks(b, m, rows, min(t, p.cols / 32u - 1u), q, sw);
  else fp4_load_words(b, m, rows, min(t, p.cols / 8u - 1u), q, sw);
}

// FP4_WIDE's fp4_unit_loop: per block, its 4 words' dots summed, then scaled once (exact).
void fp4_unit_loop_wide(bool b, uint m, uint rows[RPU], uvec4 q[RPU], uint sw[RPU], uint xrow, out float acc[RPU]) {
  const uint t = gl_LocalInvocationID.x % THREADS_PER_ROW;
  const uint blocks = p.cols / 32u;
  const uint sbase = m * p.scale_stride, xbase = xrow * (p.cols / 4u);
  for (uint i = 0u; i < RPU; ++i) acc[i] = 0.0;
  uvec4 nq[RPU];
  uint nsw[RPU];
  for (uint k = t; k < blocks; k += THREADS_PER_ROW) {
    if (FP4_PIPELINE) fp4_load_blocks(b, m, rows, min(k + THREADS_PER_ROW, blocks - 1u), nq, nsw);
    else if (k != t) fp4_load_blocks(b, m, rows, k, q, sw);
    vec4 x[8];
    for (uint j = 0u; j < 8u; ++j) x[j] = QUANT_X ? xs[8u * k + j] : xin[xbase + 8u * k + j];
    for (uint i = 0u; i < RPU; ++i) {
      const uint si = sbase + rows[i] * blocks + k;
      const float d = fp4_word_dot(q[i].x, x[0], x[1]) + fp4_word_dot(q[i].y, x[2], x[3]) +
                      fp4_word_dot(q[i].z, x[4], x[5]) + fp4_word_dot(q[i].w, x[6], x[7]);
      acc[i] += times_pow2(d, e8m0_exponent(byte_in_word(sw[i], si)) + 14);
    }
    if (FP4_PIPELINE) {
      for (uint i = 0u; i < RPU; ++i) q[i] = nq[i], sw[i] = nsw[i];
    }
  }
}

// This thread's shares of its RPU rows (from the first step's words q, sw) over input row `xrow`.
void fp4_unit_loop(bool b, uint m, uint rows[RPU], uvec4 q[RPU], uint sw[RPU], uint xrow, out float acc[RPU]) {
  if (FP4_WIDE) {
    fp4_unit_loop_wide(b, m, rows, q, sw, xrow, acc);
    return;
  }
  const uint t = gl_LocalInvocationID.x % THREADS_PER_ROW;
  const uint words = p.cols / 8u, blocks = p.cols / 32u;
  const uint sbase = m * p.scale_stride, xbase = xrow * (p.cols / 4u);
  for (uint i = 0u; i < RPU; ++i) acc[i] = 0.0;
  uvec4 nq[RPU];
  uint nsw[RPU];
  for (uint w = t; w < words; w += THREADS_PER_ROW) {
    if (FP4_PIPELINE) fp4_load_words(b, m, rows, min(w + THREADS_PER_ROW, words - 1u), nq, nsw);
    else if (w != t) fp4_load_words(b, m, rows, w, q, sw);
    const uint c = w >> 2;
    const vec4 xa = QUANT_X ? xs[2u * w] : xin[xbase + 2u * w], xb = QUANT_X ? xs[2u * w + 1u] : xin[xbase + 2u * w + 1u];
    for (uint i = 0u; i < RPU; ++i) {
      const uint si = sbase + rows[i] * blocks + c;
      acc[i] += times_pow2(fp4_word_dot(q[i].x, xa, xb), e8m0_exponent(byte_in_word(sw[i], si)) + 14);
    }
    if (FP4_PIPELINE) {
      for (uint i = 0u; i < RPU; ++i) q[i] = nq[i], sw[i] = nsw[i];
    }
  }
}

#endif
