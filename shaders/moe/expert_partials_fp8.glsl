// FP8 unit partials of the expert GEMVs (expert_gemv_io.glsl; model-spec §4.2: e4m3 codes, fp32
// scales per 128x128 block): the input row is staged once in shared memory (weights are the only
// DRAM stream); each of the 4 units of 64 threads streams RPU weight rows word by word (coalesced
// 256-byte runs), each word's dot taken on the raw codes then scaled by the block scale. The
// matrices are FP8_A, FP8_A_SCALE, FP8_B, FP8_B_SCALE (bindings 3-6 unless the includer names
// others).
#ifndef DSV4_MOE_EXPERT_PARTIALS_FP8_GLSL
#define DSV4_MOE_EXPERT_PARTIALS_FP8_GLSL
#ifndef FP8_A
#define FP8_A wa
#define FP8_A_SCALE wa_scale
#define FP8_B wb
#define FP8_B_SCALE wb_scale
#endif

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
void fp8_load_words(bool b, uint mbase, uint sbase, uint scols, uint rows[RPU], uint w, out uint q[RPU], out uint sb[RPU]) {
  const uint words = p.cols / 4u;
  for (uint i = 0u; i < RPU; ++i) {
    const uint di = mbase + rows[i] * words + w, si = sbase + (rows[i] / 128u) * scols + w / 32u;
    q[i] = b ? FP8_B[di] : FP8_A[di];
    sb[i] = b ? FP8_B_SCALE[si] : FP8_A_SCALE[si];
  }
}

// The input row `xrow` into xs: act-quantised (QUANT_X) or as it is. All invocations call it.
void fp8_stage_input(uint xrow) {
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
void fp8_unit_partials(bool b, uint m, uint row0, uint phases, uint phase, uint xrow) {
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
  fp8_load_words(b, mbase, sbase, scols, rows, min(t, words - 1u), q, sb);
  fp8_stage_input(xrow);
  for (uint w = t; w < words; w += THREADS_PER_ROW) {
    fp8_load_words(b, mbase, sbase, scols, rows, min(w + THREADS_PER_ROW, words - 1u), nq, nsb);
    for (uint i = 0u; i < RPU; ++i) acc[i] += times_scale(fp8_word_div256(q[i], w) * 256.0, sb[i]);
    for (uint i = 0u; i < RPU; ++i) q[i] = nq[i], sb[i] = nsb[i];
  }
  for (uint i = 0u; i < RPU; ++i) red[i][lid] = row0 + i * phases + phase < p.rows ? acc[i] : 0.0;
}

#endif
