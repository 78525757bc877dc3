// Scaling of raw-code partial dots by an FP8 stack's fp32 block scale (shared by the MoE expert
// kernels, shaders/moe/expert_gemv.comp and grouped_gemm.comp).
#ifndef DSV4_MOE_EXPERT_SCALE_GLSL
#define DSV4_MOE_EXPERT_SCALE_GLSL

// v * s for an fp32 scale given by its bits, as v * (significand in [1, 2)) then an exact ldexp:
// the same rounding as v * s, and right even for a denormal s (e8m0 0x00 = 2^-127) on devices
// that flush denormals.
float times_scale(float v, uint sbits) {
  const uint e = (sbits >> 23) & 0xffu, m = sbits & 0x7fffffu;
  float r;
  if (e != 0u) {
    r = ldexp(v * uintBitsToFloat(0x3f800000u | m), int(e) - 127);
  } else if (m == 0u) {
    r = 0.0;
  } else {  // m * 2^-149 with the leading bit of m at p
    const int p = findMSB(m);
    r = ldexp(v * uintBitsToFloat(0x3f800000u | ((m << uint(23 - p)) & 0x7fffffu)), p - 149);
  }
  return (sbits & 0x80000000u) != 0u ? -r : r;
}

#endif
