// Scaling of raw-code partial dots by an FP8 stack's fp32 block scale (shared by the MoE expert
// kernels, shaders/moe/expert_gemv.comp and grouped_gemm.comp).
#ifndef DSV4_MOE_EXPERT_SCALE_GLSL
#define DSV4_MOE_EXPERT_SCALE_GLSL

// v * 2^e: a multiply by the power of two where 2^e is a normal fp32, ldexp otherwise; the same
// value as ldexp wherever the result is a normal fp32. (An ldexp per word was ~15% of the MXFP4
// expert GEMV's time on an H100.)
float times_pow2(float v, int e) { return e > -127 && e < 128 ? v * uintBitsToFloat(uint(e + 127) << 23) : ldexp(v, e); }

// v * s for an fp32 scale given by its bits: one multiply for a normal s; a denormal s (e8m0 0x00
// = 2^-127) as v * (its significand in [1, 2)) then an exact ldexp, which devices that flush
// denormals get right too. The same rounding either way (one rounding of the exact product)
// wherever the result is a normal fp32.
float times_scale(float v, uint sbits) {
  const uint e = (sbits >> 23) & 0xffu, m = sbits & 0x7fffffu;
  if (e != 0u) return v * uintBitsToFloat(sbits);
  float r = 0.0;
  if (m != 0u) {  // m * 2^-149 with the leading bit of m at p
    const int p = findMSB(m);
    r = ldexp(v * uintBitsToFloat(0x3f800000u | ((m << uint(23 - p)) & 0x7fffffu)), p - 149);
  }
  return (sbits & 0x80000000u) != 0u ? -r : r;
}

#endif
