// Extrapolating a profiled decode step of a truncated model (make-model --preset flash --layers 4)
// to the full layer mix of another config (the real 43-layer V4-Flash): the per-layer time of
// each layer kind (compress ratio) as measured, summed over the full model's layers, plus the
// step-wide dispatches (embedding, head, sampling) once.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "weights/model_config.h"

namespace dsv4::cli {

// The layer a dispatch label belongs to ("layers.12.attn.wq_b/gemv_q" -> 12), or -1 (step-wide).
int64_t layer_of_label(const std::string& label);

struct ScaledStep {
  double measured_ns = 0;  // the profile's total
  double scaled_ns = 0;    // the same step for `full`'s layers
};

// `profile`: (label, ns) of every dispatch of one step of a model with `measured`'s layers.
// Throws std::invalid_argument when `full` has a layer kind that `measured` has no layer of, or
// when a label names a layer `measured` does not have.
ScaledStep scale_step_profile(const ModelConfig& measured, const std::vector<std::pair<std::string, double>>& profile,
                              const ModelConfig& full);

}  // namespace dsv4::cli
