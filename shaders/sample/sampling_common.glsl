// Sampler pieces shared with graph/sampling.cpp (which mirrors them bit for bit).
#ifndef DSV4_SAMPLING_COMMON_GLSL
#define DSV4_SAMPLING_COMMON_GLSL

// graph::DeviceSamplingParams: one per sequence slot (32 bytes).
struct SamplerParams {
  float inv_temperature;  // 1/T computed on the host; <= 0: greedy
  int top_k;              // <= 0: off
  float top_p;            // >= 1: off
  float min_p;            // <= 0: off
  float repetition_penalty;  // 1: off
  float inv_repetition_penalty;
  uint seed_lo, seed_hi;
};

float penalise(float l, SamplerParams sp) {
  precise float v = l > 0.0 ? l * sp.inv_repetition_penalty : l * sp.repetition_penalty;
  return v;
}

// Larger value wins; equal values: the lower index.
bool better(float va, uint ia, float vb, uint ib) { return va > vb || (va == vb && ia < ib); }

// Monotone map of floats to uints (total order; -0 < +0).
uint order_key(float v) {
  const uint u = floatBitsToUint(v);
  return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

// lowbias32 (Chris Wellons): a well-mixed 32-bit permutation.
uint hash32(uint x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// The uniform number in [0, 1) of (seed, sequence slot, position): 24 random bits.
float sampling_uniform(uint seed_lo, uint seed_hi, uint seq, uint pos) {
  uint h = hash32(seed_lo ^ 0x9e3779b9u);
  h = hash32(h ^ seed_hi);
  h = hash32(h ^ pos);  // seq unused: the same tokens in any slot (graph/sampling.h)
  return float(h >> 8) * (1.0 / 16777216.0);
}

#endif  // DSV4_SAMPLING_COMMON_GLSL
