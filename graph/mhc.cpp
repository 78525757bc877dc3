#include "graph/mhc.h"

#include <algorithm>
#include <cmath>

#include "graph/norms.h"
#include "weights/formats.h"

namespace dsv4::graph {

namespace {

// Evaluated in double and rounded once: the reference's sigmoid is accurate to the last fp32 bit,
// and 1/(1+expf(-v)) in fp32 is not; pre/post feed bf16 roundings (tiny-a differs from row 12 on).
float sigmoid(float v) { return float(1.0 / (1.0 + std::exp(-double(v)))); }

void normalise_rows(std::span<float> c, int64_t n, float eps) {
  for (int64_t j = 0; j < n; ++j) {
    float sum = 0.f;
    for (int64_t k = 0; k < n; ++k) sum += c[size_t(j * n + k)];
    for (int64_t k = 0; k < n; ++k) c[size_t(j * n + k)] /= (sum + eps);
  }
}

void normalise_columns(std::span<float> c, int64_t n, float eps) {
  for (int64_t k = 0; k < n; ++k) {
    float sum = 0.f;
    for (int64_t j = 0; j < n; ++j) sum += c[size_t(j * n + k)];
    for (int64_t j = 0; j < n; ++j) c[size_t(j * n + k)] /= (sum + eps);
  }
}

// y = bf16(sum_i w_i X_i) for D-wide streams.
void collapse(std::span<const float> streams, std::span<const float> w, std::span<float> y) {
  const size_t d = y.size();
  for (size_t c = 0; c < d; ++c) {
    float acc = 0.f;
    for (size_t i = 0; i < w.size(); ++i) acc += w[i] * streams[i * d + c];
    y[c] = formats::round_bf16(acc);
  }
}

// The fp32 mixes GEMM (K = hc*D) summed the way a blocked CPU GEMM does: in order within blocks of
// kMixesBlockK, then block by block. The mixes reach Sinkhorn and the sigmoids unrounded, so their
// summation order is visible in the logits; this one reproduces the tiny-a fixture (a plain
// left-to-right sum over all K drifts from row 18 on, pairwise from row 9).
constexpr size_t kMixesBlockK = 512;

float k_blocked_dot(const float* a, const float* b, size_t k) {
  float acc = 0.f;
  for (size_t k0 = 0; k0 < k; k0 += kMixesBlockK) {
    float part = 0.f;
    for (size_t i = k0; i < std::min(k, k0 + kMixesBlockK); ++i) part += a[i] * b[i];
    acc += part;
  }
  return acc;
}

}  // namespace

void sinkhorn(std::span<float> c, int64_t n, int64_t iters, float eps) {
  for (int64_t j = 0; j < n; ++j) {  // row softmax
    float* row = c.data() + j * n;
    float m = row[0];
    for (int64_t k = 1; k < n; ++k) m = std::fmax(m, row[k]);
    float sum = 0.f;
    for (int64_t k = 0; k < n; ++k) sum += (row[k] = std::exp(row[k] - m));
    for (int64_t k = 0; k < n; ++k) row[k] = row[k] / sum + eps;
  }
  normalise_columns(c, n, eps);
  for (int64_t it = 1; it < iters; ++it) {
    normalise_rows(c, n, eps);
    normalise_columns(c, n, eps);
  }
}

std::vector<float> hc_mixes(std::span<const float> streams, std::span<const float> fn, int64_t outputs,
                            float norm_eps) {
  const float r = 1.0f / std::sqrt(mean_of_squares(streams) + norm_eps);
  std::vector<float> m(static_cast<size_t>(outputs));
  const size_t width = streams.size();
  for (int64_t o = 0; o < outputs; ++o) {
    const float* row = fn.data() + size_t(o) * width;
    m[size_t(o)] = k_blocked_dot(row, streams.data(), width) * r;  // linear on the raw x, scaled afterwards
  }
  return m;
}

HcMix hc_pre(std::span<const float> streams, const HcParams& p, int64_t n, int64_t sinkhorn_iters,
             float hc_eps, float norm_eps, std::span<float> y) {
  const std::vector<float> m = hc_mixes(streams, p.fn, (2 + n) * n, norm_eps);
  HcMix mix;
  mix.pre.resize(size_t(n));
  mix.post.resize(size_t(n));
  mix.comb.resize(size_t(n * n));
  for (int64_t i = 0; i < n; ++i) {
    mix.pre[size_t(i)] = sigmoid(m[size_t(i)] * p.scale[0] + p.base[size_t(i)]) + hc_eps;
    mix.post[size_t(i)] = 2.0f * sigmoid(m[size_t(n + i)] * p.scale[1] + p.base[size_t(n + i)]);
  }
  for (int64_t i = 0; i < n * n; ++i) {
    mix.comb[size_t(i)] = m[size_t(2 * n + i)] * p.scale[2] + p.base[size_t(2 * n + i)];
  }
  sinkhorn(mix.comb, n, sinkhorn_iters, hc_eps);
  collapse(streams, mix.pre, y);
  return mix;
}

void hc_post(std::span<const float> f, const HcMix& mix, int64_t n, std::span<float> streams) {
  const size_t d = f.size();
  std::vector<float> out(streams.size());
  for (int64_t k = 0; k < n; ++k) {
    for (size_t c = 0; c < d; ++c) {
      float mixed = 0.f;
      for (int64_t j = 0; j < n; ++j) mixed += mix.comb[size_t(j * n + k)] * streams[size_t(j) * d + c];
      out[size_t(k) * d + c] = formats::round_bf16(mix.post[size_t(k)] * f[c] + mixed);
    }
  }
  std::copy(out.begin(), out.end(), streams.begin());
}

void hc_head(std::span<const float> streams, const HcParams& p, int64_t n, float hc_eps, float norm_eps,
             std::span<float> y) {
  const std::vector<float> m = hc_mixes(streams, p.fn, n, norm_eps);
  std::vector<float> pre(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pre[size_t(i)] = sigmoid(m[size_t(i)] * p.scale[0] + p.base[size_t(i)]) + hc_eps;
  collapse(streams, pre, y);
}

}  // namespace dsv4::graph
