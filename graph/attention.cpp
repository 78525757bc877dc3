#include "graph/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "weights/formats.h"

namespace dsv4::graph {

int64_t window_start(int64_t t, int64_t window) { return std::max<int64_t>(0, t - window + 1); }

int64_t visible_compressed(int64_t t, int64_t ratio) { return ratio > 0 ? (t + 1) / ratio : 0; }

void sparse_attention_head(std::span<const float> q, const std::vector<const float*>& keys, float scale,
                           float sink, std::span<float> out) {
  const size_t dh = q.size();
  std::vector<float> s(keys.size());
  float m = -std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < keys.size(); ++j) {
    float acc = 0.f;
    for (size_t i = 0; i < dh; ++i) acc += q[i] * keys[j][i];
    s[j] = acc * scale;
    m = std::fmax(m, s[j]);
  }
  std::vector<float> acc(dh, 0.f);
  float denom = 0.f;
  for (size_t j = 0; j < keys.size(); ++j) {
    const float e = std::exp(s[j] - m);
    denom += e;
    const float p = formats::round_bf16(e);
    for (size_t i = 0; i < dh; ++i) acc[i] += p * keys[j][i];
  }
  denom += std::exp(sink - m);
  for (size_t i = 0; i < dh; ++i) out[i] = formats::round_bf16(acc[i] / denom);
}

}  // namespace dsv4::graph
