// The per-head arithmetic of the query heads (graph/norms.cpp head_rms_norm_bf16, then RoPE; model-
// spec §3.5.1), shared by q_heads_main.glsl and gemv_q_main.glsl's Q_HEADS tail so both compile the
// same expressions. The includer includes step.glsl, rope.glsl and quant.glsl first.
#ifndef DSV4_Q_HEAD_MATH_GLSL
#define DSV4_Q_HEAD_MATH_GLSL

// One term of a head's sum of squares, added in dimension order: bf16(x^2).
float qh_square(float x) {
  precise float sq = x * x;
  return round_bf16(sq);
}

// The head's bf16 inverse RMS from its sum of squares.
float qh_inv_rms(float sum, uint head_dim, float eps) {
  precise float mean = round_bf16(sum * (1.0 / float(head_dim)));
  precise float ms = round_bf16(mean + eps);
  return round_bf16(1.0 / sqrt(ms));
}

// Dims i .. i + 3 of a head (all nope or all rope: (head_dim - rope_dim) % 4 == 0) scaled by
// inv_rms, then rotated at the step row's position if they are rope dims.
vec4 qh_finish(vec4 x, float inv_rms, uint i, uint row, uint head_dim, uint rope_dim, uint rope_slot) {
  precise vec4 scaled = x * inv_rms;
  vec4 y = vec4(round_bf16(scaled.x), round_bf16(scaled.y), round_bf16(scaled.z), round_bf16(scaled.w));
  const uint rope_start = head_dim - rope_dim;
  if (i >= rope_start) {
    const uint pair = (i - rope_start) / 2u;
    const vec2 a = rope_rotate(y.xy, rope_cs(row, rope_slot, pair), false);
    const vec2 b = rope_rotate(y.zw, rope_cs(row, rope_slot, pair + 1u), false);
    y = vec4(round_bf16(a.x), round_bf16(a.y), round_bf16(b.x), round_bf16(b.y));
  }
  return y;
}

#endif  // DSV4_Q_HEAD_MATH_GLSL
