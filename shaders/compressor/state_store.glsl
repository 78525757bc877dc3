// The state update of one row (model-spec §3.5.4): channel i of its (kv, score + ape) to the ring
// slot of its position (emit.comp describes the state). Shared by store.comp and, in decode,
// emit.comp (STORE). The includer declares kv_in, score_in, ape, state and push constants p with
// d, ratio, coff and in_stride, and includes step.glsl.
#ifndef DSV4_STATE_STORE_GLSL
#define DSV4_STATE_STORE_GLSL

void store_state(uint r, uint i) {
  const uint width = p.coff * p.d, span = p.coff * p.ratio;
  const uint pos = uint(step.rows[r].pos), seq = uint(step.rows[r].seq);
  const uint srow = (p.coff == 2u ? ((pos / p.ratio) & 1u) * p.ratio : 0u) + pos % p.ratio;
  const uint base = ((seq * 2u) * span + srow) * width + i;  // kv half; the score half is span rows on
  state[base] = kv_in[r * p.in_stride + i];
  precise float g = score_in[r * p.in_stride + i] + ape[(pos % p.ratio) * width + i];
  state[base + span * width] = g;
}

#endif  // DSV4_STATE_STORE_GLSL
