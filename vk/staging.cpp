#include "vk/staging.h"

#include <algorithm>
#include <cstring>

#include "vk/device.h"
#include "vk/error.h"
#include "vk/make.h"

namespace dsv4::vk {

StagingRing::StagingRing(Device& device, uint64_t capacity) : device_(device) {
  capacity = std::min(capacity, device.caps().max_memory_allocation_size);
  half_ = std::max<uint64_t>(capacity / 2 / 256 * 256, 256);
  ring_ = Buffer::create(device, 2 * half_, MemoryKind::Readback, "staging ring");
  auto ai = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = device.command_pool();
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  for (Slot& s : slots_) check(vkAllocateCommandBuffers(device.handle(), &ai, &s.cmd), "vkAllocateCommandBuffers");
}

StagingRing::~StagingRing() {
  for (Slot& s : slots_) {
    if (s.pending) {
      try {
        device_.wait(s.pending);
      } catch (const std::exception&) {
        // device lost or hung: free anyway
      }
    }
    if (s.cmd) vkFreeCommandBuffers(device_.handle(), device_.command_pool(), 1, &s.cmd);
  }
}

void StagingRing::check_range(const Buffer& b, uint64_t offset, uint64_t bytes, const char* what) const {
  if (offset > b.size() || bytes > b.size() - offset)
    throw Error(std::string(what) + " of " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                " exceeds the buffer's " + std::to_string(b.size()) + " bytes");
}

VkCommandBuffer StagingRing::begin(Slot& slot) {
  if (slot.pending) device_.wait(slot.pending);
  slot.pending = 0;
  check(vkResetCommandBuffer(slot.cmd, 0), "vkResetCommandBuffer");
  auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(slot.cmd, &bi), "vkBeginCommandBuffer");
  return slot.cmd;
}

uint64_t StagingRing::copy(Slot& slot, VkBuffer from, uint64_t from_offset, VkBuffer to, uint64_t to_offset,
                           uint64_t bytes, bool to_host) {
  VkCommandBuffer cmd = slot.cmd;
  // Earlier kernels and copies (this or earlier submissions) finish before the copy touches memory.
  auto before = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  before.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  before.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, nullptr, 0, nullptr);
  const VkBufferCopy region{from_offset, to_offset, bytes};
  vkCmdCopyBuffer(cmd, from, to, 1, &region);
  auto after = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  after.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  after.dstAccessMask = to_host ? VK_ACCESS_HOST_READ_BIT : VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                       to_host ? VK_PIPELINE_STAGE_HOST_BIT : VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &after, 0,
                       nullptr, 0, nullptr);
  check(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
  slot.pending = device_.submit(cmd);
  return slot.pending;
}

void StagingRing::upload(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t bytes) {
  check_range(dst, dst_offset, bytes, "upload");
  const uint8_t* from = static_cast<const uint8_t*>(src);
  size_t k = 0;
  for (uint64_t done = 0; done < bytes; done += half_, ++k) {
    Slot& slot = slots_[k % 2];
    const uint64_t n = std::min(half_, bytes - done);
    begin(slot);  // waits until this half's previous copy has read it
    const uint64_t ring_offset = (k % 2) * half_;
    std::memcpy(ring_.mapped() + ring_offset, from + done, n);
    copy(slot, ring_.handle(), ring_offset, dst.handle(), dst_offset + done, n, false);
  }
  for (Slot& s : slots_)
    if (s.pending) device_.wait(s.pending), s.pending = 0;
}

void StagingRing::download(const Buffer& src, uint64_t src_offset, void* dst, uint64_t bytes) {
  check_range(src, src_offset, bytes, "download");
  uint8_t* to = static_cast<uint8_t*>(dst);
  const uint64_t chunks = (bytes + half_ - 1) / half_;
  // Chunk k+1 is copied on the GPU while the host drains chunk k.
  auto start = [&](uint64_t k) {
    Slot& slot = slots_[k % 2];
    begin(slot);
    const uint64_t done = k * half_;
    copy(slot, src.handle(), src_offset + done, ring_.handle(), (k % 2) * half_, std::min(half_, bytes - done), true);
  };
  if (chunks > 0) start(0);
  for (uint64_t k = 0; k < chunks; ++k) {
    Slot& slot = slots_[k % 2];
    if (k + 1 < chunks) start(k + 1);
    device_.wait(slot.pending);
    slot.pending = 0;
    const uint64_t done = k * half_;
    std::memcpy(to + done, ring_.mapped() + (k % 2) * half_, std::min(half_, bytes - done));
  }
}

}  // namespace dsv4::vk
