// RMS normalisations (model-spec §3.2, §3.5.1): the weighted RMSNorm used by every *_norm module,
// and the weightless per-head q normalisation the reference does in bf16 arithmetic.
#pragma once
#include <span>

namespace dsv4::graph {

// Mean as the reference's conventions fix it: fp32 sum times fp32(1/N). The sum is pairwise
// (graph/reduce.h): a left-to-right sum is too inexact and flips later bf16 roundings.
float mean_of_squares(std::span<const float> x);

// out = bf16(w * (x * rsqrt(mean(x^2) + eps))), fp32 math; weight applied before the cast.
void rms_norm(std::span<const float> x, std::span<const float> weight, float eps, std::span<float> out);

// q_h <- q_h * rsqrt(mean(q_h^2) + eps) where the square, mean, +eps, rsqrt and product are each
// rounded to bf16 (the reference runs it on a bf16 tensor).
void head_rms_norm_bf16(std::span<float> head, float eps);

}  // namespace dsv4::graph
