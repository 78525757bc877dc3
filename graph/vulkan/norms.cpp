#include "graph/vulkan/norms.h"

#include <stdexcept>

namespace dsv4::gpu {

uint32_t pairwise_depth(uint64_t n) {
  // The larger child has ceil(n/2) terms, so it decides the depth.
  return n <= 8 ? 0u : 1u + pairwise_depth(n - n / 2);
}

void encode_rms_norm(Context& ctx, const RmsNormArgs& a, std::vector<vk::Dispatch>& out) {
  if (a.dim == 0 || a.dim > 32768) throw std::invalid_argument("rms_norm: dim must be in [1, 32768]");
  if (a.rows_per_step_row == 0) throw std::invalid_argument("rms_norm: rows_per_step_row must be >= 1");
  struct Push {
    uint32_t dim, depth;
    float inv_dim, eps;
    uint32_t rows_per_step_row;
  } push{a.dim, pairwise_depth(a.dim), 1.0f / float(a.dim), a.eps, a.rows_per_step_row};
  const vk::Kernel& k = ctx.kernels.get({"norm/rms_norm", 4, sizeof(Push), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {a.x, vk::Access::Read},
                  {a.weight, vk::Access::Read},
                  {a.y, vk::Access::Write}},
                 vk::push_words(push),
                 {a.max_rows * a.rows_per_step_row, 1, 1},
                 std::nullopt,
                 "rms_norm"});
}

}  // namespace dsv4::gpu
