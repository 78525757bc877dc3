// The step descriptor and the per-row RoPE tables (C++ mirror of shaders/common/step.glsl and
// rope.glsl). The host writes both before each submission; kernels read every per-step count and
// position from them, so a recording stays valid across steps.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "graph/rope.h"
#include "weights/model_config.h"

namespace dsv4::gpu {

using graph::RopeTable;

struct StepRow {
  int32_t token = 0;
  int32_t pos = 0;
  int32_t seq = 0;        // sequence slot (index into every per-sequence cache)
  int32_t first_row = 0;  // row of this sequence's first token in this step
};

struct StepHeader {
  uint32_t n_rows = 0, max_rows = 0, rope_slots = 0, rope_pairs = 0;
};
static_assert(sizeof(StepRow) == 16 && sizeof(StepHeader) == 16);

// Rows of one sequence slot fed `tokens` at positions start_pos.. (a prefill chunk or one decode
// token), appended after `rows` (first_row = rows.size() on entry).
void append_rows(std::vector<StepRow>& rows, int64_t start_pos, std::span<const int64_t> tokens, int32_t seq);

// The RoPE tables a step needs (see rope.glsl for slot meanings): slot 0 plain, slot 1 YaRN at the
// row's position, slot 2+j YaRN at pos + 1 - ratio_j (distinct compress ratios, ascending).
class RopeSlots {
 public:
  explicit RopeSlots(const ModelConfig& cfg);
  uint32_t count() const { return uint32_t(2 + ratios_.size()); }
  uint32_t pairs() const { return uint32_t(plain_.rope_dim / 2); }
  // Slot of the table a layer with compress ratio `ratio` uses at the row's own position.
  uint32_t at_pos(int64_t ratio) const { return ratio > 0 ? 1u : 0u; }
  // Slot of the window-start table of compress ratio `ratio` (> 0).
  uint32_t window_start(int64_t ratio) const;
  // cos/sin pairs for `rows` into out [rows.size() * count() * pairs() * 2] floats, with the CPU
  // reference's fp32 math (angle = float(pos) * freq, std::cos / std::sin).
  void fill(std::span<const StepRow> rows, std::span<float> out) const;
  const RopeTable& plain() const { return plain_; }
  const RopeTable& yarn() const { return yarn_; }

 private:
  RopeTable plain_, yarn_;
  std::vector<int64_t> ratios_;
};

// Bytes of the step buffer (header + max_rows rows) and the rope buffer for `max_rows` rows.
uint64_t step_buffer_bytes(uint32_t max_rows);
uint64_t rope_buffer_bytes(const RopeSlots& slots, uint32_t max_rows);

// Header + rows as the bytes the step buffer holds.
std::vector<uint8_t> encode_step(std::span<const StepRow> rows, uint32_t max_rows, const RopeSlots& slots);

}  // namespace dsv4::gpu
