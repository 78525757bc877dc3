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

// Router for one token: x [D] bf16 values; `token` used by hash layers.
Routing route(const MoeWeights& w, const ModelConfig& cfg, bool hash_layer, std::span<const float> x, int64_t token);

// One expert on one token: out [D] bf16. `weight` multiplies silu(g)*u before w2 (1 = shared).
void expert_forward(const ExpertWeights& e, std::span<const float> x, float weight, float swiglu_limit,
                    bool apply_weight, std::span<float> out);

// Routed experts (by increasing id) + shared expert, summed in fp32, rounded to bf16 into `out`.
void moe_forward(const MoeWeights& w, const ModelConfig& cfg, const Routing& r, std::span<const float> x,
                 std::span<float> out);

}  // namespace dsv4::graph
