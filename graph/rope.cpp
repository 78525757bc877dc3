#include "graph/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "weights/formats.h"

namespace dsv4::graph {

void yarn_correction_range(int64_t rope_dim, double base, int64_t original_seq_len, double beta_fast,
                           double beta_slow, int64_t* low, int64_t* high) {
  auto corr = [&](double rotations) {
    return double(rope_dim) * std::log(double(original_seq_len) / (rotations * 2 * std::numbers::pi)) /
           (2 * std::log(base));
  };
  *low = std::max<int64_t>(int64_t(std::floor(corr(beta_fast))), 0);
  *high = std::min<int64_t>(int64_t(std::ceil(corr(beta_slow))), rope_dim - 1);
}

RopeTable make_rope_table(int64_t rope_dim, double base, int64_t original_seq_len, double factor,
                          double beta_fast, double beta_slow) {
  if (rope_dim <= 0 || rope_dim % 2 != 0) throw std::invalid_argument("rope dim must be even and > 0");
  RopeTable t;
  t.rope_dim = rope_dim;
  const int64_t half = rope_dim / 2;
  t.freqs.resize(size_t(half));
  // fp32 like the reference: 1 / base^(float(2i)/dim).
  for (int64_t i = 0; i < half; ++i) {
    t.freqs[size_t(i)] = 1.0f / std::pow(float(base), float(2 * i) / float(rope_dim));
  }
  if (original_seq_len > 0) {
    int64_t low = 0, high = 0;
    yarn_correction_range(rope_dim, base, original_seq_len, beta_fast, beta_slow, &low, &high);
    const float lo = float(low), hi = (low == high) ? float(high) + 0.001f : float(high);
    for (int64_t i = 0; i < half; ++i) {
      const float ramp = std::clamp((float(i) - lo) / (hi - lo), 0.f, 1.f);
      const float smooth = 1.f - ramp;
      const float f = t.freqs[size_t(i)];
      t.freqs[size_t(i)] = f / float(factor) * (1.f - smooth) + f * smooth;
    }
  }
  return t;
}

RopeTable rope_table_for_layer(const ModelConfig& cfg, int64_t layer) {
  if (cfg.ratio(layer) > 0) {
    return make_rope_table(cfg.rope_head_dim, cfg.compress_rope_theta, cfg.original_seq_len,
                           cfg.rope_factor, cfg.beta_fast, cfg.beta_slow);
  }
  return make_rope_table(cfg.rope_head_dim, cfg.rope_theta, 0, cfg.rope_factor, cfg.beta_fast,
                         cfg.beta_slow);
}

void apply_rope(const RopeTable& table, std::span<float> head, int64_t pos, bool inverse) {
  const size_t rd = size_t(table.rope_dim);
  if (head.size() < rd) throw std::invalid_argument("apply_rope: head narrower than the rope dims");
  float* x = head.data() + (head.size() - rd);
  for (size_t i = 0; i < rd / 2; ++i) {
    const float angle = float(pos) * table.freqs[i];  // torch.outer in fp32
    const float c = std::cos(angle), s = inverse ? -std::sin(angle) : std::sin(angle);
    const float re = x[2 * i], im = x[2 * i + 1];
    x[2 * i] = formats::round_bf16(re * c - im * s);
    x[2 * i + 1] = formats::round_bf16(re * s + im * c);
  }
}

}  // namespace dsv4::graph
