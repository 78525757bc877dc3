// MoE routing and experts (model-spec §3.6): sqrt(softplus) gate scores, selection with the
// noaux_tc bias (or tid2eid for hash layers), normalised weights x route_scale; clamped SwiGLU
// experts with the routing weight applied before w2; fp32 combine by expert id, then shared.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "graph/model_weights.h"

namespace dsv4::graph {

struct Routing {
  std::vector<int64_t> experts;  // k expert ids
  std::vector<float> weights;    // k fp32 routing weights (normalised, x route_scale)
};

// sqrt(softplus(logit)) correctly rounded to fp32 (evaluated in double, rounded once); logits
// below -160 (never met: router logits are O(10)) give 0. The GPU gets the same bits from
// float-float arithmetic (shaders/moe/gate_common.glsl): fp32 log1pf/expf would carry libm's own
// 1-2 ulp errors, which no shader reproduces.
float sqrt_softplus(float logit);

// The router scores of one token: sqrt_softplus(x . gate_e) for every routed expert e, each dot
// graph::linear_fp32's sequential fp32 sum (the GPU gate's order too).
std::vector<float> router_scores(const MoeWeights& w, std::span<const float> x);

// Router for one token: x [D] bf16 values; `token` used by hash layers.
Routing route(const MoeWeights& w, const ModelConfig& cfg, bool hash_layer, std::span<const float> x, int64_t token);

// One expert on one token: out [D] bf16. `weight` multiplies silu(g)*u before w2 (1 = shared).
void expert_forward(const ExpertWeights& e, std::span<const float> x, float weight, float swiglu_limit,
                    bool apply_weight, std::span<float> out);

// Routed experts (by increasing id) + shared expert, summed in fp32, rounded to bf16 into `out`.
void moe_forward(const MoeWeights& w, const ModelConfig& cfg, const Routing& r, std::span<const float> x,
                 std::span<float> out);

}  // namespace dsv4::graph
