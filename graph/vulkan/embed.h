// Token embedding on the device (model-spec §3.1): the BF16 table row of each step row's token,
// repeated into the hc residual streams.
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "graph/vulkan/device_weights.h"
#include "vk/recording.h"

namespace dsv4::gpu {

// The status buffer: 2 words. Word 0 bit 0 = some row had a token outside [0, vocab) (its streams
// are zeros), word 1 = one such id. The kernel only sets them: the host zeroes the buffer before
// the first step and after handling an error, and checks word 0 after each step.
constexpr uint64_t kEmbedStatusBytes = 8;
constexpr uint32_t kEmbedBadToken = 1u;

struct EmbedArgs {
  vk::BufferRange step;
  const DeviceMatrix* table = nullptr;  // BF16 [vocab, dim]
  vk::BufferRange hc_out;               // fp32 [max_rows, hc, dim]
  vk::BufferRange status;               // kEmbedStatusBytes, read-write
  uint32_t hc = 4, max_rows = 0;
  uint64_t max_binding = 0;  // bytes per table binding; 0: the device's maxStorageBufferRange
};

// One dispatch; the table is bound as up to 4 slices of whole rows (each <= max_binding bytes,
// offsets aligned to minStorageBufferOffsetAlignment), so tables up to 4 bindings in size work.
void encode_embed(Context& ctx, const EmbedArgs& a, std::vector<vk::Dispatch>& out);

}  // namespace dsv4::gpu
