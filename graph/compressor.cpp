#include "graph/compressor.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "graph/norms.h"
#include "graph/quant.h"

namespace dsv4::graph {

CompressorState::CompressorState(int64_t ratio_, int64_t d_) : ratio(ratio_), d(d_), coff(ratio_ == 4 ? 2 : 1) {
  kv.resize(size_t(coff * ratio * coff * d));
  score.resize(kv.size());
  reset();
}

void CompressorState::reset() {
  std::fill(kv.begin(), kv.end(), 0.f);
  std::fill(score.begin(), score.end(), -std::numeric_limits<float>::infinity());
}

namespace {

// Per-channel softmax over the window slots, then the weighted sum of the values.
void pool(const CompressorState& s, std::span<float> pooled) {
  const int64_t width = s.coff * s.d, slots = s.coff * s.ratio;
  std::vector<const float*> kv(static_cast<size_t>(slots)), sc(static_cast<size_t>(slots));
  for (int64_t slot = 0; slot < slots; ++slot) {
    // Overlap: previous-window rows give channels [0, d), current-window rows [d, 2d).
    const int64_t channel0 = (s.overlap() && slot >= s.ratio) ? s.d : 0;
    kv[size_t(slot)] = s.kv.data() + slot * width + channel0;
    sc[size_t(slot)] = s.score.data() + slot * width + channel0;
  }
  for (int64_t ch = 0; ch < s.d; ++ch) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < slots; ++j) m = std::fmax(m, sc[size_t(j)][ch]);
    float sum = 0.f;
    for (int64_t j = 0; j < slots; ++j) sum += std::exp(sc[size_t(j)][ch] - m);
    float acc = 0.f;
    for (int64_t j = 0; j < slots; ++j) acc += kv[size_t(j)][ch] * (std::exp(sc[size_t(j)][ch] - m) / sum);
    pooled[size_t(ch)] = acc;
  }
}

}  // namespace

bool compressor_push(CompressorState& s, int64_t pos, std::span<const float> c, std::span<const float> g,
                     std::span<const float> ape, std::span<float> pooled) {
  const int64_t width = s.coff * s.d;
  if (int64_t(c.size()) != width || int64_t(g.size()) != width) throw std::invalid_argument("compressor_push: width");
  const int64_t slot = pos % s.ratio;
  const int64_t row = (s.overlap() ? s.ratio : 0) + slot;
  for (int64_t i = 0; i < width; ++i) {
    s.kv[size_t(row * width + i)] = c[size_t(i)];
    s.score[size_t(row * width + i)] = g[size_t(i)] + ape[size_t(slot * width + i)];
  }
  if ((pos + 1) % s.ratio != 0) return false;
  pool(s, pooled);
  if (s.overlap()) {  // the window just closed becomes the previous window
    std::copy(s.kv.begin() + s.ratio * width, s.kv.end(), s.kv.begin());
    std::copy(s.score.begin() + s.ratio * width, s.score.end(), s.score.begin());
  }
  return true;
}

void finish_kv_entry(std::span<float> entry, std::span<const float> norm, float eps, const RopeTable& rope,
                     int64_t rope_pos) {
  round_to_bf16(entry);
  rms_norm(entry, norm, eps, entry);
  apply_rope(rope, entry, rope_pos);
  fp8_roundtrip(entry.first(entry.size() - size_t(rope.rope_dim)), 64);
}

void finish_index_entry(std::span<float> entry, std::span<const float> norm, float eps, const RopeTable& rope,
                        int64_t rope_pos) {
  round_to_bf16(entry);
  rms_norm(entry, norm, eps, entry);
  apply_rope(rope, entry, rope_pos);
  hadamard_rotate(entry);
  fp4_roundtrip(entry, 32);
}

}  // namespace dsv4::graph
