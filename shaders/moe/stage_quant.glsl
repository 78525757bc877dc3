// act_quant (model-spec §4.2; moe/act_quant.comp) of one fp32 input row while staging it in shared
// memory: each block of 128 values becomes e4m3(x / s) * s, s the ue8m0 power of two of the block
// amax (a max: any order, the same exponent; a short last block is its own block). The expert
// GEMVs quantise their input row this way instead of reading a separately quantised copy: one
// dependent dispatch fewer per MoE input. The including shader declares `shared vec4 xs[]` of at
// least cols / 4 elements, the spec constant XS_VEC4 (its size) and includes quant.glsl and
// expert_scale.glsl.
#ifndef DSV4_MOE_STAGE_QUANT_GLSL
#define DSV4_MOE_STAGE_QUANT_GLSL

shared int xs_exp[XS_VEC4 / 32u + 1u];  // per 128-block exponent
shared float xs_part[256];               // per-eighth-block amax

// fp8_quant (quant.glsl) by multiplies by powers of two (times_pow2, expert_scale.glsl): the same
// value, without two ldexp per element.
float fp8_quant_mul(float x, int e) { return times_pow2(e4m3_round(times_pow2(x, -e)), e); }

// Every invocation of the 256-wide workgroup calls it; `row4` is the row's first vec4 in `src`.
// The block amax is a max, so any grouping gives the same exponent: eighths of blocks (4 vec4s)
// on 256 invocations, then one invocation per block over its 8 (one invocation scanning a whole
// block was 32 dependent shared loads).
void stage_act_quant(uint row4, uint cols) {
  const uint lid = gl_LocalInvocationID.x, n4 = cols / 4u, nb = (cols + 127u) / 128u;
  for (uint i = lid; i < n4; i += 256u) xs[i] = xin[row4 + i];
  for (uint j0 = 0u; j0 < nb * 8u; j0 += 256u) {
    barrier();  // xs written (first pass); xs_part read (later passes)
    const uint j = j0 + lid;
    float amax = 0.0;
    for (uint i = j * 4u; i < min(n4, j * 4u + 4u); ++i) {
      const vec4 a = abs(xs[i]);
      amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    xs_part[lid] = amax;
    barrier();
    if (lid < 32u && j0 / 8u + lid < nb) {
      float m = xs_part[8u * lid];
      for (uint k = 1u; k < 8u; ++k) m = max(m, xs_part[8u * lid + k]);
      xs_exp[j0 / 8u + lid] = fp8_scale_exponent(m);
    }
  }
  barrier();
  for (uint i = lid; i < n4; i += 256u) {
    const int e = xs_exp[i / 32u];
    const vec4 v = xs[i];
    xs[i] = vec4(fp8_quant_mul(v.x, e), fp8_quant_mul(v.y, e), fp8_quant_mul(v.z, e), fp8_quant_mul(v.w, e));
  }
  barrier();
}

#endif  // DSV4_MOE_STAGE_QUANT_GLSL
