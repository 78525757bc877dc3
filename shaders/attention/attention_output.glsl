// The end of sparse attention for thread-owned dims d0..d0+3 of one head (model-spec §3.5.8 and
// attn_output): bf16(acc / den), then on rope dims (d0 >= nope: two pairs) the inverse RoPE at the
// row's position, rounded to bf16 again. Shared by sparse_attention.comp and decode_pv.comp; the
// includer declares `pc` (head_dim, rope_dim, rope_slot) and includes rope.glsl and quant.glsl.
#ifndef DSV4_ATTENTION_OUTPUT_GLSL
#define DSV4_ATTENTION_OUTPUT_GLSL

vec4 attention_output(vec4 acc, float den, uint row, uint d0) {
  vec4 y = vec4(round_bf16(acc.x / den), round_bf16(acc.y / den), round_bf16(acc.z / den), round_bf16(acc.w / den));
  const uint nope = pc.head_dim - pc.rope_dim;
  if (d0 >= nope) {
    const uint pair = (d0 - nope) / 2u;
    const vec2 a = rope_rotate(y.xy, rope_cs(row, pc.rope_slot, pair), true);
    const vec2 b = rope_rotate(y.zw, rope_cs(row, pc.rope_slot, pair + 1u), true);
    y = vec4(round_bf16(a.x), round_bf16(a.y), round_bf16(b.x), round_bf16(b.y));
  }
  return y;
}

#endif  // DSV4_ATTENTION_OUTPUT_GLSL
