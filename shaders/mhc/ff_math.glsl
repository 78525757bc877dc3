// Correctly rounded fp32 results from float-float ("double-float") arithmetic built only on fp32
// add/sub/mul, which Vulkan requires to be correctly rounded. The CPU reference computes its
// sigmoids in double and its sqrt/div/expf correctly rounded; GPU sqrt, division and exp are
// approximate (2.5+ ulp) and shaderFloat64 is not universal, so mHC and the sampler use these.
// Every temporary is `precise`: a fused multiply-add would break the error-free transforms.
//
// NOTE: this header lives beside its users (shaders/CMakeLists.txt only tracks common/*.glsl as a
// dependency): touch the .comp files after editing it.
#ifndef DSV4_FF_MATH_GLSL
#define DSV4_FF_MATH_GLSL

// a + b = s + e exactly.
vec2 ff_two_sum(float a, float b) {
  precise float s = a + b;
  precise float bb = s - a;
  precise float e = (a - (s - bb)) + (b - bb);
  return vec2(s, e);
}
// As ff_two_sum for |a| >= |b|.
vec2 ff_fast_two_sum(float a, float b) {
  precise float s = a + b;
  precise float e = b - (s - a);
  return vec2(s, e);
}
// Veltkamp split into two 12-bit halves.
vec2 ff_split(float a) {
  precise float t = 4097.0 * a;
  precise float hi = t - (t - a);
  precise float lo = a - hi;
  return vec2(hi, lo);
}
// a * b = p + e exactly (Dekker).
vec2 ff_two_prod(float a, float b) {
  precise float p = a * b;
  const vec2 as = ff_split(a), bs = ff_split(b);
  precise float e = ((as.x * bs.x - p) + as.x * bs.y + as.y * bs.x) + as.y * bs.y;
  return vec2(p, e);
}
vec2 ff_add(vec2 a, vec2 b) {
  const vec2 s = ff_two_sum(a.x, b.x);
  precise float e = s.y + a.y + b.y;
  return ff_fast_two_sum(s.x, e);
}
vec2 ff_mul(vec2 a, vec2 b) {
  const vec2 p = ff_two_prod(a.x, b.x);
  precise float e = p.y + (a.x * b.y + a.y * b.x);
  return ff_fast_two_sum(p.x, e);
}
// a / b: an approximate quotient corrected twice by exact residuals.
vec2 ff_div(vec2 a, vec2 b) {
  precise float q1 = a.x / b.x;
  vec2 r = ff_add(a, -ff_mul(b, vec2(q1, 0.0)));
  precise float q2 = r.x / b.x;
  r = ff_add(r, -ff_mul(b, vec2(q2, 0.0)));
  precise float q3 = r.x / b.x;
  return ff_add(ff_fast_two_sum(q1, q2), vec2(q3, 0.0));
}

// fp32 a / b correctly rounded (but for ~2^-20 of near-halfway cases).
float div_rn(float a, float b) { return ff_div(vec2(a, 0.0), vec2(b, 0.0)).x; }

// fp32 sqrt correctly rounded: one exact-residual Newton correction of the approximate root.
float sqrt_rn(float x) {
  const float s = sqrt(x);
  if (s == 0.0 || isinf(s) || isnan(s)) return s;
  const vec2 p = ff_two_prod(s, s);
  precise float r = (x - p.x) - p.y;
  precise float c = r / (2.0 * s);
  precise float out_s = s + c;
  return out_s;
}

// exp(x) as a float-float (~2^-42 relative): x = k ln2 + r with ln2 in three parts, then a
// degree-13 Taylor polynomial in r (|r| <= 0.35) evaluated in float-float, scaled by 2^k.
// Uses only add/mul/roundEven/ldexp, so a C++ mirror (graph/sampling.cpp) is bit-identical.
// Inputs below -87 return 0 and above 88 return +inf (fp32 range, no subnormals).
vec2 ff_exp(float x) {
  if (x < -87.0) return vec2(0.0);
  if (x > 88.0) return vec2(1.0 / 0.0, 0.0);
  precise float kf = roundEven(x * 1.44269504);
  vec2 r = ff_two_sum(x, -(kf * 0.693145751953125));  // k * ln2_hi is exact (|k| <= 127)
  r = ff_add(r, -ff_two_prod(kf, 1.428606765e-06));
  r = ff_add(r, vec2(-(kf * 5.497923148e-14), 0.0));
  const float c_hi[14] = float[14](1.0, 1.0, 0.5, 1.666666716e-01, 4.166666791e-02, 8.333333768e-03, 1.388888923e-03,
                                   1.984127011e-04, 2.480158764e-05, 2.755731884e-06, 2.755731998e-07,
                                   2.505210794e-08, 2.087675588e-09, 1.605904437e-10);
  const float c_lo[14] = float[14](0.0, 0.0, 0.0, -4.967053879e-09, -1.241763470e-09, -4.346172033e-10,
                                   -3.363109444e-11, -2.725596875e-12, -3.406996094e-13, 3.793571224e-14,
                                   -7.575112209e-15, 4.417623045e-16, 1.108283915e-16, -5.352526512e-18);
  vec2 p = vec2(c_hi[13], c_lo[13]);
  for (int n = 12; n >= 0; --n) p = ff_add(ff_mul(p, r), vec2(c_hi[n], c_lo[n]));
  const int k = int(kf);
  return vec2(ldexp(p.x, k), ldexp(p.y, k));
}

// float(exp(x)) correctly rounded (as glibc expf, up to near-halfway cases).
float exp_rn(float x) { return ff_exp(x).x; }

// float(1 / (1 + exp(-v))) as the reference's double sigmoid rounds it; for v < 0 computed as
// e / (1 + e), e = exp(v), so nothing overflows.
float sigmoid_rn(float v) {
  if (v >= 0.0) return ff_div(vec2(1.0, 0.0), ff_add(vec2(1.0, 0.0), ff_exp(-v))).x;
  const vec2 e = ff_exp(v);
  return ff_div(e, ff_add(vec2(1.0, 0.0), e)).x;
}

#endif  // DSV4_FF_MATH_GLSL
