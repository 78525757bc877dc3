#include "graph/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "graph/indexer.h"
#include "weights/formats.h"

namespace dsv4::graph {

namespace {

float silu(float v) { return v / (1.f + std::exp(-v)); }

}  // namespace

float sqrt_softplus(float logit) {
  if (logit < -160.f) return 0.f;  // the GPU's float-float exp stops at the fp32 range
  const double v = double(logit);
  return float(std::sqrt(v > 20.0 ? v : std::log1p(std::exp(v))));  // torch softplus: beta 1, threshold 20
}

std::vector<float> router_scores(const MoeWeights& w, std::span<const float> x) {
  std::vector<float> scores(static_cast<size_t>(w.gate.rows));
  linear_fp32(w.gate, x, scores);  // sequential: reproduces the reference's logits on tiny-a
  for (float& s : scores) s = sqrt_softplus(s);
  return scores;
}

Routing route(const MoeWeights& w, const ModelConfig& cfg, bool hash_layer, std::span<const float> x, int64_t token) {
  const std::vector<float> scores = router_scores(w, x);
  Routing r;
  if (hash_layer) {
    const auto row = w.tid2eid.begin() + token * cfg.n_activated_experts;
    r.experts.assign(row, row + cfg.n_activated_experts);
  } else {
    std::vector<float> biased(scores);  // the bias picks experts, never weighs them
    for (size_t e = 0; e < biased.size(); ++e) biased[e] += w.bias[e];
    r.experts = topk_indices(biased, cfg.n_activated_experts);
  }
  float sum = 0.f;
  for (int64_t e : r.experts) sum += scores[size_t(e)];
  for (int64_t e : r.experts) r.weights.push_back(scores[size_t(e)] / sum * cfg.route_scale);
  return r;
}

void expert_forward(const ExpertWeights& e, std::span<const float> x, float weight, float swiglu_limit,
                    bool apply_weight, std::span<float> out) {
  const size_t f = size_t(e.w1.rows);
  std::vector<float> g(f), u(f), h(f);
  linear(e.w1, x, g);
  linear(e.w3, x, u);
  for (size_t i = 0; i < f; ++i) {
    float gi = g[i], ui = u[i];
    if (swiglu_limit > 0) {
      ui = std::clamp(ui, -swiglu_limit, swiglu_limit);
      gi = std::min(gi, swiglu_limit);
    }
    float hi = silu(gi) * ui;
    if (apply_weight) hi = weight * hi;
    h[i] = formats::round_bf16(hi);  // w2's input is bf16 (then FP8-quantised by the linear)
  }
  linear(e.w2, h, out);
}

void moe_forward(const MoeWeights& w, const ModelConfig& cfg, const Routing& r, std::span<const float> x,
                 std::span<float> out) {
  const size_t d = x.size();
  std::vector<float> acc(d, 0.f), part(d);
  std::vector<size_t> order(r.experts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r.experts[a] < r.experts[b]; });
  for (size_t k : order) {
    expert_forward(w.experts[size_t(r.experts[k])], x, r.weights[k], cfg.swiglu_limit, true, part);
    for (size_t i = 0; i < d; ++i) acc[i] += part[i];
  }
  expert_forward(w.shared, x, 1.f, cfg.swiglu_limit, false, part);
  for (size_t i = 0; i < d; ++i) out[i] = formats::round_bf16(acc[i] + part[i]);
}

}  // namespace dsv4::graph
