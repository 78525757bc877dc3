// Streaming transfers between host memory and device buffers through a host-visible ring:
// data of any size moves in chunks of half the ring, the host filling (or draining) one half while
// the GPU copies the other. Calls return when the data has arrived.
#pragma once
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>

#include "vk/memory.h"

namespace dsv4::vk {

class Device;

class StagingRing {
 public:
  // capacity: bytes of host-visible memory (two halves); clamped to the allocation limit.
  explicit StagingRing(Device& device, uint64_t capacity = 64ull << 20);
  ~StagingRing();
  StagingRing(const StagingRing&) = delete;
  StagingRing& operator=(const StagingRing&) = delete;

  // Copies `bytes` bytes from host `src` to `dst` at `dst_offset`.
  void upload(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t bytes);
  // Copies `bytes` bytes from `src` at `src_offset` to host `dst`.
  void download(const Buffer& src, uint64_t src_offset, void* dst, uint64_t bytes);

  uint64_t chunk_size() const { return half_; }

 private:
  struct Slot {
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    uint64_t pending = 0;  // timeline value of the copy in flight from/to this half
  };
  VkCommandBuffer begin(Slot& slot);
  uint64_t copy(Slot& slot, VkBuffer from, uint64_t from_offset, VkBuffer to, uint64_t to_offset,
                uint64_t bytes, bool to_host);
  void check_range(const Buffer& b, uint64_t offset, uint64_t bytes, const char* what) const;

  Device& device_;
  Buffer ring_;
  uint64_t half_ = 0;
  std::array<Slot, 2> slots_;
};

}  // namespace dsv4::vk
