#include "graph/indexer.h"

#include <algorithm>
#include <numeric>

#include "weights/formats.h"

namespace dsv4::graph {
using formats::round_bf16;

std::vector<float> index_scores(std::span<const float> q, std::span<const float> w, std::span<const float> keys,
                                int64_t head_dim, int64_t visible) {
  const int64_t heads = int64_t(w.size());
  std::vector<float> scores(static_cast<size_t>(visible));
  for (int64_t c = 0; c < visible; ++c) {
    const float* key = keys.data() + c * head_dim;
    float total = 0.f;
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = q.data() + h * head_dim;
      float dot = 0.f;
      for (int64_t i = 0; i < head_dim; ++i) dot += qh[i] * key[i];
      const float relu = std::max(round_bf16(dot), 0.f);
      total += round_bf16(relu * w[size_t(h)]);
    }
    scores[size_t(c)] = round_bf16(total);
  }
  return scores;
}

std::vector<int64_t> topk_indices(std::span<const float> values, int64_t k) {
  std::vector<int64_t> idx(values.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min<int64_t>(k, int64_t(idx.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
    return values[size_t(a)] > values[size_t(b)] || (values[size_t(a)] == values[size_t(b)] && a < b);
  });
  idx.resize(size_t(k));
  return idx;
}

}  // namespace dsv4::graph
