#include "graph/vulkan/embed.h"

#include <algorithm>
#include <stdexcept>

namespace dsv4::gpu {

namespace {

constexpr uint32_t kSlices = 4;

// Rows per slice: as many as fit a binding, a multiple of a row count whose byte size is a
// multiple of the offset alignment.
uint64_t rows_per_slice(uint64_t row_bytes, uint64_t rows, uint64_t max_binding, uint64_t align) {
  uint64_t unit = 1;
  while ((unit * row_bytes) % align != 0) ++unit;  // align is a power of two <= 256: unit <= 256
  const uint64_t fit = max_binding / row_bytes / unit * unit;
  if (fit == 0) throw std::invalid_argument("embed: a table row does not fit one binding");
  return std::min(fit, (rows + unit - 1) / unit * unit);
}

}  // namespace

void encode_embed(Context& ctx, const EmbedArgs& a, std::vector<vk::Dispatch>& out) {
  const DeviceMatrix& t = *a.table;
  if (t.format != WeightFormat::BF16) throw std::invalid_argument("embed: the table must be BF16");
  const vk::Caps& caps = ctx.device.caps();
  const uint64_t max_binding = a.max_binding ? a.max_binding : caps.max_storage_buffer_range;
  const uint64_t row_bytes = uint64_t(t.cols) * 2;
  const uint64_t per = rows_per_slice(row_bytes, uint64_t(t.rows), max_binding,
                                      std::max<uint64_t>(4, caps.min_storage_buffer_offset_alignment));
  const uint64_t slices = (uint64_t(t.rows) + per - 1) / per;
  if (slices > kSlices) throw std::invalid_argument("embed: the table needs more than 4 bindings");
  std::vector<vk::Binding> b = {{a.step, vk::Access::Read}};
  for (uint64_t s = 0; s < kSlices; ++s) {
    const uint64_t first = std::min(s, slices - 1) * per;  // unused slices repeat the last one
    const uint64_t rows = std::min(per, uint64_t(t.rows) - first);
    const uint64_t bytes = (rows * row_bytes + 3) / 4 * 4;
    b.push_back({{t.data.buffer, t.data.offset + first * row_bytes, std::min(bytes, t.data.size - first * row_bytes)},
                 vk::Access::Read});
  }
  b.push_back({a.hc_out, vk::Access::Write});
  b.push_back({a.status, vk::Access::ReadWrite});
  const uint32_t push[4] = {uint32_t(t.rows), uint32_t(t.cols), a.hc, uint32_t(per)};
  const vk::Kernel& k = ctx.kernels.get({"mhc/embed", 7, sizeof(push), {}, 0});
  out.push_back({&k, std::move(b), {push[0], push[1], push[2], push[3]}, {a.max_rows, 1, 1}, std::nullopt, "embed"});
}

}  // namespace dsv4::gpu
