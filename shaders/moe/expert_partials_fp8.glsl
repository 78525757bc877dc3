// FP8 unit partials of the expert GEMVs (expert_gemv_io.glsl; model-spec §4.2: e4m3 codes, fp32
// scales per 128x128 block): the input row is staged in shared memory (weights are the only DRAM
// stream); each of the 4 units of 64 threads streams RPU weight rows word by word (coalesced
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

// The word loads of one loop step (word w of the RPU rows of matrix m of operand A, or B) of this
// thread: codes and fp32 scales.
void fp8_load_words(bool b, uint m, uint rows[RPU], uint w, out uvec4 q[RPU], out uint sb[RPU]) {
  const uint words = p.cols / 4u, scols = (p.cols + 127u) / 128u;
  const uint mbase = m * (p.data_stride16 * 4u), sbase = m * (p.scale_stride / 4u);
  for (uint i = 0u; i < RPU; ++i) {
    const uint di = mbase + rows[i] * words + w, si = sbase + (rows[i] / 128u) * scols + w / 32u;
    q[i].x = b ? FP8_B[di] : FP8_A[di];
    sb[i] = b ? FP8_B_SCALE[si] : FP8_A_SCALE[si];
  }
}

// The first step's loads of this thread (issued before the input row is staged); codes in q[i].x.
void fp8_first_words(bool b, uint m, uint rows[RPU], out uvec4 q[RPU], out uint sb[RPU]) {
  fp8_load_words(b, m, rows, min(gl_LocalInvocationID.x % THREADS_PER_ROW, p.cols / 4u - 1u), q, sb);
}

// This thread's shares of its RPU rows (from the first step's words q, sb) over the staged input
// row. The loads of all RPU rows are issued together so that each thread keeps RPU reads in
// flight (a decode step is one wave: latency-bound otherwise), each step's next before it uses its
// own (on an H100: Pro's shared gate/up 53.2 -> 47.5 us, Flash's shared expert within 1 us).
void fp8_unit_loop(bool b, uint m, uint rows[RPU], uvec4 q[RPU], uint sb[RPU], out float acc[RPU]) {
  const uint t = gl_LocalInvocationID.x % THREADS_PER_ROW;
  const uint words = p.cols / 4u;
  for (uint i = 0u; i < RPU; ++i) acc[i] = 0.0;
  uvec4 nq[RPU];
  uint nsb[RPU];
  for (uint w = t; w < words; w += THREADS_PER_ROW) {
    fp8_load_words(b, m, rows, min(w + THREADS_PER_ROW, words - 1u), nq, nsb);
    for (uint i = 0u; i < RPU; ++i) acc[i] += times_scale(fp8_word_div256(q[i].x, w) * 256.0, sb[i]);
    for (uint i = 0u; i < RPU; ++i) q[i] = nq[i], sb[i] = nsb[i];
  }
}

#endif
