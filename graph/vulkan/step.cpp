#include "graph/vulkan/step.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dsv4::gpu {

void append_rows(std::vector<StepRow>& rows, int64_t start_pos, std::span<const int64_t> tokens, int32_t seq) {
  const int32_t first = int32_t(rows.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    rows.push_back({int32_t(tokens[i]), int32_t(start_pos + int64_t(i)), seq, first});
  }
}

RopeSlots::RopeSlots(const ModelConfig& cfg)
    : plain_(graph::make_rope_table(cfg.rope_head_dim, cfg.rope_theta, 0, cfg.rope_factor, cfg.beta_fast,
                                    cfg.beta_slow)),
      yarn_(graph::make_rope_table(cfg.rope_head_dim, cfg.compress_rope_theta, cfg.original_seq_len,
                                   cfg.rope_factor, cfg.beta_fast, cfg.beta_slow)) {
  for (int64_t r : cfg.compress_ratios)
    if (r > 0 && std::find(ratios_.begin(), ratios_.end(), r) == ratios_.end()) ratios_.push_back(r);
  std::sort(ratios_.begin(), ratios_.end());
}

uint32_t RopeSlots::window_start(int64_t ratio) const {
  const auto it = std::find(ratios_.begin(), ratios_.end(), ratio);
  if (it == ratios_.end()) throw std::logic_error("no rope slot for compress ratio " + std::to_string(ratio));
  return uint32_t(2 + (it - ratios_.begin()));
}

namespace {

void fill_table(const graph::RopeTable& t, int64_t pos, float* out) {
  for (size_t i = 0; i < t.freqs.size(); ++i) {
    const float angle = float(pos) * t.freqs[i];  // as graph/rope.cpp apply_rope
    out[2 * i] = std::cos(angle);
    out[2 * i + 1] = std::sin(angle);
  }
}

}  // namespace

void RopeSlots::fill(std::span<const StepRow> rows, std::span<float> out) const {
  const size_t per_slot = size_t(pairs()) * 2, per_row = per_slot * count();
  if (out.size() < rows.size() * per_row) throw std::logic_error("rope table buffer too small");
  for (size_t r = 0; r < rows.size(); ++r) {
    float* o = out.data() + r * per_row;
    const int64_t pos = rows[r].pos;
    fill_table(plain_, pos, o);
    fill_table(yarn_, pos, o + per_slot);
    // Only used when pos closes a window; clamped at 0 so early rows stay finite.
    for (size_t j = 0; j < ratios_.size(); ++j)
      fill_table(yarn_, std::max<int64_t>(0, pos + 1 - ratios_[j]), o + (2 + j) * per_slot);
  }
}

uint64_t step_buffer_bytes(uint32_t max_rows) { return sizeof(StepHeader) + uint64_t(max_rows) * sizeof(StepRow); }

uint64_t rope_buffer_bytes(const RopeSlots& slots, uint32_t max_rows) {
  return uint64_t(max_rows) * slots.count() * slots.pairs() * 2 * sizeof(float);
}

std::vector<uint8_t> encode_step(std::span<const StepRow> rows, uint32_t max_rows, const RopeSlots& slots) {
  if (rows.size() > max_rows) throw std::logic_error("step has more rows than the recording");
  const StepHeader h{uint32_t(rows.size()), max_rows, slots.count(), slots.pairs()};
  std::vector<uint8_t> bytes(sizeof(h) + rows.size() * sizeof(StepRow));
  std::memcpy(bytes.data(), &h, sizeof(h));
  if (!rows.empty()) std::memcpy(bytes.data() + sizeof(h), rows.data(), rows.size() * sizeof(StepRow));
  return bytes;
}

}  // namespace dsv4::gpu
