// The index queries' per-head arithmetic (model-spec §3.5.5 step 1; oracle CpuExecutor::
// indexer_query), shared by query.comp and gemv_q_main.glsl's Q_HEADS tail so both compile the same
// expressions: RoPE on the last rope_dim dims (bf16), Hadamard (fp32 butterflies, then bf16(v *
// 1/sqrt(dim))), FP4 round-trip in blocks of 32. Every step is exact or a single rounding of the
// same fp32 value as the reference, so the result is bit-identical.
// n heads of `dim` values sit one after another in a shared array the includer reads and writes
// through QM_GET(i) / QM_SET(i, v); head k belongs to step row m0 + k / per_row. All invocations of
// the workgroup (wg of them, this one t) call each function; each ends with a barrier. The includer
// includes step.glsl, rope.glsl and quant.glsl first and defines QM_MAX_BLOCKS (32-value blocks of
// the n heads).
#ifndef DSV4_INDEXER_QUERY_MATH_GLSL
#define DSV4_INDEXER_QUERY_MATH_GLSL

shared int qm_block_exp[QM_MAX_BLOCKS];

void qm_rope(uint n, uint dim, uint rope_dim, uint rope_slot, uint m0, uint per_row, uint t, uint wg) {
  const uint r0 = dim - rope_dim, pairs = rope_dim / 2u;
  for (uint i = t; i < n * pairs; i += wg) {
    const uint k = i / pairs, pr = i % pairs, at = k * dim + r0 + 2u * pr;
    const vec2 v = rope_rotate(vec2(QM_GET(at), QM_GET(at + 1u)), rope_cs(m0 + k / per_row, rope_slot, pr), false);
    QM_SET(at, round_bf16(v.x));
    QM_SET(at + 1u, round_bf16(v.y));
  }
  barrier();
}

void qm_hadamard(uint n, uint dim, float scale, uint t, uint wg) {
  for (uint h = 1u; h < dim; h *= 2u) {
    for (uint i = t; i < n * dim / 2u; i += wg) {
      const uint k = i / (dim / 2u), ii = i % (dim / 2u);
      const uint j = k * dim + (ii / h) * 2u * h + (ii % h);
      const float a = QM_GET(j), b = QM_GET(j + h);
      precise float s = a + b;
      precise float d = a - b;
      QM_SET(j, s);
      QM_SET(j + h, d);
    }
    barrier();
  }
  for (uint i = t; i < n * dim; i += wg) {
    precise float v = QM_GET(i) * scale;
    QM_SET(i, round_bf16(v));
  }
  barrier();
}

// The block exponents of the FP4 round-trip; the caller then writes fp4_roundtrip(QM_GET(i),
// qm_block_exp[i / 32]) (dim % 32 == 0 or one partial block per head: blocks do not straddle heads).
void qm_fp4_exponents(uint n, uint dim, uint t, uint wg) {
  const uint per_head = (dim + 31u) / 32u;
  for (uint b = t; b < n * per_head; b += wg) {
    const uint k = b / per_head, first = k * dim + (b % per_head) * 32u, end = min(k * dim + dim, first + 32u);
    float amax = 0.0;
    for (uint i = first; i < end; ++i) amax = max(amax, abs(QM_GET(i)));
    qm_block_exp[b] = fp4_scale_exponent(amax);
  }
  barrier();
}

#endif  // DSV4_INDEXER_QUERY_MATH_GLSL
