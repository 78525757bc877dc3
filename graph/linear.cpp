#include "graph/linear.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "graph/parallel.h"
#include "graph/quant.h"
#include "weights/formats.h"

namespace dsv4::graph {

namespace {

void check_shape(const Weight& w, std::span<const float> x, std::span<float> out) {
  if (int64_t(x.size()) != w.cols || int64_t(out.size()) != w.rows) {
    throw std::invalid_argument("linear " + w.name + ": shape mismatch (weight " + std::to_string(w.rows) +
                                "x" + std::to_string(w.cols) + ", input " + std::to_string(x.size()) +
                                ", output " + std::to_string(out.size()) + ")");
  }
}

// a . b over [k0, k1) in 8 interleaved fp32 partial sums (vectorisable; the reference's GEMMs fix
// no summation order either), then summed in a fixed order.
float dot_range(const float* a, const float* b, size_t k0, size_t k1) {
  float lane[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  size_t k = k0;
  for (; k + 8 <= k1; k += 8)
    for (size_t l = 0; l < 8; ++l) lane[l] += a[k + l] * b[k + l];
  for (; k < k1; ++k) lane[0] += a[k] * b[k];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// Sum of per-block partial dot products, as the fp8/fp4 GEMM kernels accumulate.
float blocked_dot(std::span<const float> a, std::span<const float> b, size_t block) {
  float acc = 0.f;
  for (size_t k0 = 0; k0 < a.size(); k0 += block) acc += dot_range(a.data(), b.data(), k0, std::min(a.size(), k0 + block));
  return acc;
}

float dot(std::span<const float> a, std::span<const float> b) { return dot_range(a.data(), b.data(), 0, a.size()); }

// Sequential fp32 sum: fp32 outputs (logits, compressor, router) are not hidden behind a bf16
// rounding, and this order reproduces the tiny-a fixture bit for bit where the model allows it.
float dot_sequential(std::span<const float> a, std::span<const float> b) {
  float acc = 0.f;
  for (size_t k = 0; k < a.size(); ++k) acc += a[k] * b[k];
  return acc;
}

}  // namespace

void linear(const Weight& w, std::span<const float> x, std::span<float> out) {
  check_shape(w, x, out);
  const bool quantised = w.format == WeightFormat::FP8 || w.format == WeightFormat::FP4;
  std::vector<float> xq(x.begin(), x.end());
  if (quantised) act_quant_fp8(xq, 128);
  const size_t block = w.format == WeightFormat::FP4 ? 32 : 128;
  parallel_for(w.rows, w.rows * w.cols, [&](int64_t r) {
    const float acc = quantised ? blocked_dot(xq, w.row(r), block) : dot(xq, w.row(r));
    out[size_t(r)] = formats::round_bf16(acc);
  });
}

void linear_fp32(const Weight& w, std::span<const float> x, std::span<float> out) {
  check_shape(w, x, out);
  parallel_for(w.rows, w.rows * w.cols, [&](int64_t r) { out[size_t(r)] = dot_sequential(x, w.row(r)); });
}

}  // namespace dsv4::graph
