#include "graph/quant.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "weights/formats.h"

namespace dsv4::graph {
namespace fm = dsv4::formats;

namespace {

float block_amax(std::span<const float> b) {
  float amax = 0.f;
  for (float v : b) amax = std::fmax(amax, std::fabs(v));
  return amax;
}

// Applies `round_block(block)` to consecutive blocks of `block` values.
template <class F>
void for_each_block(std::span<float> x, int64_t block, F&& round_block) {
  for (size_t i = 0; i < x.size(); i += size_t(block)) {
    round_block(x.subspan(i, std::min(size_t(block), x.size() - i)));
  }
}

}  // namespace

void act_quant_fp8(std::span<float> x, int64_t block) {
  for_each_block(x, block, [](std::span<float> b) {
    const float s = fm::fp8_block_scale(block_amax(b));
    // x / s is exact (power of two); the e4m3 cast saturates at ±448 like the kernel's clamp.
    for (float& v : b) v = fm::round_e4m3(v / s) * s;
  });
}

void fp8_roundtrip(std::span<float> x, int64_t block) {
  for_each_block(x, block, [](std::span<float> b) {
    const float s = fm::fp8_block_scale(block_amax(b));
    for (float& v : b) v = fm::round_bf16(fm::round_e4m3(v / s) * s);
  });
}

void fp4_roundtrip(std::span<float> x, int64_t block) {
  for_each_block(x, block, [](std::span<float> b) {
    const float s = fm::fp4_block_scale(block_amax(b));
    for (float& v : b) v = fm::round_bf16(fm::round_e2m1(std::clamp(v / s, -6.f, 6.f)) * s);
  });
}

void hadamard_rotate(std::span<float> x) {
  const size_t n = x.size();
  if (n == 0 || (n & (n - 1)) != 0) {
    throw std::invalid_argument("hadamard_rotate: width " + std::to_string(n) + " is not a power of two");
  }
  // Butterflies in fp32 (as fast_hadamard_transform accumulates), then the 1/sqrt(n) scale.
  for (size_t h = 1; h < n; h *= 2) {
    for (size_t i = 0; i < n; i += 2 * h) {
      for (size_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
  const float scale = float(1.0 / std::sqrt(double(n)));
  for (float& v : x) v = fm::round_bf16(v * scale);
}

void round_to_bf16(std::span<float> x) {
  for (float& v : x) v = fm::round_bf16(v);
}

}  // namespace dsv4::graph
