// Mirrors shaders/sample/sample.comp and shaders/mhc/ff_math.glsl: any change here must be made
// there too (tests/gpu/mhc/sampling_test.cpp compares them). The float-float transforms need every
// fp32 operation rounded on its own: no fused multiply-adds.
#pragma GCC optimize("fp-contract=off")
#include "graph/sampling.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

namespace dsv4::graph {

namespace {

constexpr uint32_t kChunks = 256;  // the GPU workgroup size: one chunk per invocation

struct FF {
  float hi, lo;
};

FF two_sum(float a, float b) {
  const float s = a + b, bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}
FF fast_two_sum(float a, float b) {
  const float s = a + b;
  return {s, b - (s - a)};
}
FF split(float a) {
  const float t = 4097.0f * a, hi = t - (t - a);
  return {hi, a - hi};
}
FF two_prod(float a, float b) {
  const float p = a * b;
  const FF as = split(a), bs = split(b);
  return {p, ((as.hi * bs.hi - p) + as.hi * bs.lo + as.lo * bs.hi) + as.lo * bs.lo};
}
FF ff_add(FF a, FF b) {
  const FF s = two_sum(a.hi, b.hi);
  return fast_two_sum(s.hi, s.lo + a.lo + b.lo);
}
FF ff_mul(FF a, FF b) {
  const FF p = two_prod(a.hi, b.hi);
  return fast_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}
FF neg(FF a) { return {-a.hi, -a.lo}; }

uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

uint32_t order_key(float v) {
  const uint32_t u = std::bit_cast<uint32_t>(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

bool better(float va, uint32_t ia, float vb, uint32_t ib) { return va > vb || (va == vb && ia < ib); }

// One row's state, laid out as the GPU's invocations see it.
struct Row {
  std::span<const float> logits;
  std::span<const uint32_t> presence;
  DeviceSamplingParams sp;
  uint32_t vocab = 0, chunk = 0;
  std::vector<float> w;
  std::array<float, kChunks> chunk_sum{};

  uint32_t lo(uint32_t t) const { return std::min(vocab, t * chunk); }
  uint32_t hi(uint32_t t) const { return std::min(vocab, lo(t) + chunk); }

  float value(uint32_t i) const {
    const float l = logits[i];
    if (sp.repetition_penalty != 1.0f && !presence.empty() && ((presence[i >> 5] >> (i & 31u)) & 1u))
      return l > 0.0f ? l * sp.inv_repetition_penalty : l * sp.repetition_penalty;
    return l;
  }
  uint32_t key(uint32_t i) const { return order_key(value(i) * sp.inv_temperature); }

  uint32_t argmax(float& best) const {
    std::array<float, kChunks> rv;
    std::array<uint32_t, kChunks> ri;
    for (uint32_t t = 0; t < kChunks; ++t) {
      float bv = -std::numeric_limits<float>::infinity();
      uint32_t bi = 0xffffffffu;
      for (uint32_t i = lo(t); i < hi(t); ++i) {
        const float v = value(i);
        if (v > bv || bi == 0xffffffffu) bv = v, bi = i;
      }
      rv[t] = bv, ri[t] = bi;
    }
    for (uint32_t s = kChunks / 2; s > 0; s /= 2)
      for (uint32_t t = 0; t < s; ++t)
        if (better(rv[t + s], ri[t + s], rv[t], ri[t])) rv[t] = rv[t + s], ri[t] = ri[t + s];
    best = rv[0];
    return ri[0];
  }

  uint32_t count_at_least(uint32_t theta) const {
    uint32_t c = 0;
    for (uint32_t i = 0; i < vocab; ++i) c += key(i) >= theta;
    return c;
  }

  float mass_at_least(uint32_t theta) {
    std::array<float, kChunks> tree;
    for (uint32_t t = 0; t < kChunks; ++t) {
      float acc = 0.f;
      for (uint32_t i = lo(t); i < hi(t); ++i)
        if (w[i] > 0.f && key(i) >= theta) acc += w[i];
      chunk_sum[t] = tree[t] = acc;
    }
    for (uint32_t s = kChunks / 2; s > 0; s /= 2)
      for (uint32_t t = 0; t < s; ++t) tree[t] = tree[t] + tree[t + s];
    return tree[0];
  }
};

uint32_t bisect(uint32_t a, auto keeps) {  // the largest theta >= a with keeps(theta)
  uint32_t b = 0xffffffffu;
  while (a < b) {
    const uint32_t mid = a + (b - a) / 2u + ((b - a) & 1u);
    if (keeps(mid)) a = mid;
    else b = mid - 1u;
  }
  return a;
}

}  // namespace

DeviceSamplingParams pack_sampling_params(const SamplingParams& p) {
  DeviceSamplingParams d{};
  // A temperature so small that 1/T overflows is greedy; a non-positive penalty is no penalty.
  const float inv_t = p.temperature > 0.f ? 1.0f / p.temperature : 0.f;
  d.inv_temperature = std::isfinite(inv_t) ? inv_t : 0.f;
  d.top_k = p.top_k;
  d.top_p = p.top_p;
  d.min_p = p.min_p;
  d.repetition_penalty = p.repetition_penalty > 0.f ? p.repetition_penalty : 1.f;
  d.inv_repetition_penalty = 1.0f / d.repetition_penalty;
  d.seed_lo = uint32_t(p.seed);
  d.seed_hi = uint32_t(p.seed >> 32);
  return d;
}

float sampling_uniform(uint64_t seed, uint32_t seq, uint32_t pos) {
  uint32_t h = hash32(uint32_t(seed) ^ 0x9e3779b9u);
  h = hash32(h ^ uint32_t(seed >> 32));
  (void)seq;  // slot-independent: a sequence samples the same tokens in any slot (batch.h)
  h = hash32(h ^ pos);
  return float(h >> 8) * (1.0f / 16777216.0f);
}

float sampling_exp(float x) {
  if (x < -87.0f) return 0.f;
  if (x > 88.0f) return std::numeric_limits<float>::infinity();
  const float kf = std::nearbyint(x * 1.44269504f);
  const float k_hi = kf * 0.693145751953125f;
  FF r = two_sum(x, -k_hi);
  r = ff_add(r, neg(two_prod(kf, 1.428606765e-06f)));
  const float k_lo = kf * 5.497923148e-14f;
  r = ff_add(r, {-k_lo, 0.f});
  static constexpr float c_hi[14] = {1.0f, 1.0f, 0.5f, 1.666666716e-01f, 4.166666791e-02f, 8.333333768e-03f,
                                     1.388888923e-03f, 1.984127011e-04f, 2.480158764e-05f, 2.755731884e-06f,
                                     2.755731998e-07f, 2.505210794e-08f, 2.087675588e-09f, 1.605904437e-10f};
  static constexpr float c_lo[14] = {0.0f, 0.0f, 0.0f, -4.967053879e-09f, -1.241763470e-09f, -4.346172033e-10f,
                                     -3.363109444e-11f, -2.725596875e-12f, -3.406996094e-13f, 3.793571224e-14f,
                                     -7.575112209e-15f, 4.417623045e-16f, 1.108283915e-16f, -5.352526512e-18f};
  FF p{c_hi[13], c_lo[13]};
  for (int n = 12; n >= 0; --n) p = ff_add(ff_mul(p, r), {c_hi[n], c_lo[n]});
  return std::ldexp(p.hi, int(kf));
}

uint32_t presence_words(int64_t vocab) { return uint32_t((vocab + 31) / 32); }

void mark_token(std::span<uint32_t> presence, int64_t token) {
  if (token >= 0 && size_t(token >> 5) < presence.size()) presence[size_t(token >> 5)] |= 1u << (token & 31);
}

bool has_token(std::span<const uint32_t> presence, int64_t token) {
  return token >= 0 && size_t(token >> 5) < presence.size() && ((presence[size_t(token >> 5)] >> (token & 31)) & 1u);
}

int32_t sample_token(std::span<const float> logits, const SamplingParams& params, std::span<const uint32_t> presence,
                     uint32_t seq, uint32_t pos) {
  Row r;
  r.logits = logits;
  r.presence = presence;
  r.sp = pack_sampling_params(params);
  r.vocab = uint32_t(logits.size());
  r.chunk = (r.vocab + kChunks - 1) / kChunks;
  float best = 0.f;
  const uint32_t argmax = r.argmax(best);
  if (r.sp.inv_temperature <= 0.f || r.sp.top_k == 1) return int32_t(argmax);

  const float vmax = best * r.sp.inv_temperature;
  r.w.resize(r.vocab);
  for (uint32_t i = 0; i < r.vocab; ++i) {
    const float w = sampling_exp(r.value(i) * r.sp.inv_temperature - vmax);
    r.w[i] = w >= r.sp.min_p ? w : 0.f;
  }
  uint32_t theta = 0;
  if (r.sp.top_k > 0 && uint32_t(r.sp.top_k) < r.vocab)
    theta = bisect(0, [&](uint32_t t) { return r.count_at_least(t) >= uint32_t(r.sp.top_k); });
  if (r.sp.top_p < 1.f) {
    const float target = r.sp.top_p * r.mass_at_least(theta);
    theta = bisect(theta, [&](uint32_t t) {
      const float m = r.mass_at_least(t);
      return m > 0.f && m >= target;
    });
  }
  const float total = r.mass_at_least(theta);
  const float target = sampling_uniform(params.seed, seq, pos) * total;
  float acc = 0.f, c_acc = 0.f;
  uint32_t c = 0xffffffffu;
  for (uint32_t k = 0; k < kChunks; ++k) {
    if (r.chunk_sum[k] > 0.f) c = k, c_acc = acc;
    const float next = acc + r.chunk_sum[k];
    if (next > target && r.chunk_sum[k] > 0.f) break;
    acc = next;
  }
  if (c == 0xffffffffu) return int32_t(argmax);  // nothing kept (every weight underflowed)
  uint32_t last = r.lo(c);
  acc = c_acc;
  for (uint32_t i = r.lo(c); i < r.hi(c); ++i) {
    if (!(r.w[i] > 0.f && r.key(i) >= theta)) continue;
    acc += r.w[i];
    last = i;
    if (acc > target) break;
  }
  return int32_t(last);
}

}  // namespace dsv4::graph
