// Builder: the op list of one forward step (model-spec §3.9, the mode-independent formulation).
// The same list serves a decode step (one token) and a prefill chunk of any length at any start
// position; StepParams says which.
#pragma once
#include "graph/op.h"
#include "weights/model_config.h"

namespace dsv4::graph {

enum class StepKind { Decode, Prefill };

// Embed, every main Block (three layer kinds, hash or scored MoE, mHC), hc_head, norm, head.
OpList build_step(const ModelConfig& cfg, StepKind kind);

// The MTP block mtp.i (model-spec §3.8): reads buffer "mtp_hidden" (the main model's hc streams
// before hc_head) and the step's tokens; ends in its own hc_head / norm and the shared head.
OpList build_mtp_step(const ModelConfig& cfg, int64_t mtp_index);

}  // namespace dsv4::graph
