#include "graph/norms.h"

#include <cmath>

#include "graph/reduce.h"
#include "weights/formats.h"

namespace dsv4::graph {
using formats::round_bf16;

float mean_of_squares(std::span<const float> x) {
  const float sum = pairwise_sum(x.size(), [&](size_t i) { return x[i] * x[i]; });
  return sum * (1.0f / float(x.size()));
}

void rms_norm(std::span<const float> x, std::span<const float> weight, float eps, std::span<float> out) {
  const float r = 1.0f / std::sqrt(mean_of_squares(x) + eps);
  for (size_t i = 0; i < x.size(); ++i) out[i] = round_bf16(weight[i] * (x[i] * r));
}

void head_rms_norm_bf16(std::span<float> head, float eps) {
  float sum = 0.f;
  for (float v : head) sum += round_bf16(v * v);
  const float mean = round_bf16(sum * (1.0f / float(head.size())));
  const float r = round_bf16(1.0f / std::sqrt(round_bf16(mean + eps)));
  for (float& v : head) v = round_bf16(v * r);
}

}  // namespace dsv4::graph
