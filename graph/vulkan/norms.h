// RMSNorm on the device (graph::rms_norm bit for bit: pairwise mean as graph/reduce.h orders it,
// correctly rounded sqrt and division, bf16 output).
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "vk/recording.h"

namespace dsv4::gpu {

struct RmsNormArgs {
  vk::BufferRange step;    // step descriptor (rows >= n_rows are skipped)
  vk::BufferRange x;       // fp32 [max_rows * rows_per_step_row, dim]
  vk::BufferRange weight;  // bf16 [dim] as uint16 (a BF16 DeviceMatrix's data, 1 x dim)
  vk::BufferRange y;       // fp32 [max_rows * rows_per_step_row, dim], bf16-exact; distinct from x
  uint32_t dim = 0;
  uint32_t max_rows = 0;
  uint32_t rows_per_step_row = 1;  // e.g. hc_mult to normalise each residual stream of a row
  float eps = 1e-6f;
};

// One dispatch, one workgroup per normalised row. dim <= 32768.
void encode_rms_norm(Context& ctx, const RmsNormArgs& a, std::vector<vk::Dispatch>& out);

// Depth of graph::pairwise_sum's recursion tree over n terms (leaves of <= 8 terms), which the
// kernels that reproduce it take as a push constant.
uint32_t pairwise_depth(uint64_t n);

}  // namespace dsv4::gpu
