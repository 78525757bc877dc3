// act_quant (model-spec §4.2; moe/act_quant.comp) of one fp32 input row while staging it in shared
// memory: each block of 128 values becomes e4m3(x / s) * s, s the ue8m0 power of two of the block
// amax (a max: any order, the same exponent; a short last block is its own block). The expert
// GEMVs quantise their input row this way instead of reading a separately quantised copy: one
// dependent dispatch fewer per MoE input. The including shader declares `shared vec4 xs[]` of at
// least cols / 4 elements, the spec constant XS_VEC4 (its size) and includes quant.glsl.
#ifndef DSV4_MOE_STAGE_QUANT_GLSL
#define DSV4_MOE_STAGE_QUANT_GLSL

shared int xs_exp[XS_VEC4 / 32u + 1u];  // per 128-block exponent

// Every invocation of the 256-wide workgroup calls it; `row4` is the row's first vec4 in `src`.
void stage_act_quant(uint row4, uint cols) {
  const uint lid = gl_LocalInvocationID.x, n4 = cols / 4u, nb = (cols + 127u) / 128u;
  for (uint i = lid; i < n4; i += 256u) xs[i] = xin[row4 + i];
  barrier();
  for (uint b = lid; b < nb; b += 256u) {
    float amax = 0.0;
    for (uint i = b * 32u; i < min(n4, b * 32u + 32u); ++i) {
      const vec4 a = abs(xs[i]);
      amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    xs_exp[b] = fp8_scale_exponent(amax);
  }
  barrier();
  for (uint i = lid; i < n4; i += 256u) {
    const int e = xs_exp[i / 32u];
    const vec4 v = xs[i];
    xs[i] = vec4(fp8_quant(v.x, e), fp8_quant(v.y, e), fp8_quant(v.z, e), fp8_quant(v.w, e));
  }
  barrier();
}

#endif  // DSV4_MOE_STAGE_QUANT_GLSL
