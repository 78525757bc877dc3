// Device memory and buffers. Big allocations are carved into buffers at 64-bit offsets (Arena);
// nothing ever exceeds maxMemoryAllocationSize, maxBufferSize or the heap; a buffer larger than
// maxStorageBufferRange is bound to shaders in slices (Buffer::slices).
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4::vk {

class Device;

enum class MemoryKind {
  DeviceLocal,  // kernels' tensors; not host-visible
  Upload,       // host-visible, coherent: staging for host -> device
  Readback,     // host-visible, coherent, cached where possible: device -> host
};

// A byte range of a buffer: what a dispatch binds or a copy touches.
struct BufferRange {
  VkBuffer buffer = VK_NULL_HANDLE;
  uint64_t offset = 0;
  uint64_t size = 0;
  bool operator==(const BufferRange&) const = default;
};

// One vkAllocateMemory; shared by the buffers placed in it and freed with the last of them.
class MemoryBlock {
 public:
  MemoryBlock(Device& device, uint64_t size, uint32_t memory_type, std::string_view what);
  ~MemoryBlock();
  MemoryBlock(const MemoryBlock&) = delete;
  MemoryBlock& operator=(const MemoryBlock&) = delete;
  VkDeviceMemory handle() const { return memory_; }
  uint64_t size() const { return size_; }
  uint8_t* mapped() const { return mapped_; }  // nullptr unless host-visible
  uint32_t memory_type() const { return memory_type_; }

 private:
  VkDevice device_;
  Device* owner_ = nullptr;  // charged for device-local bytes (Device::charge_local)
  uint32_t memory_type_;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  uint64_t size_;
  uint8_t* mapped_ = nullptr;
};

class Buffer {
 public:
  // A buffer with its own allocation. Throws vk::OutOfDeviceMemory (naming `what`, the size and
  // the budget) when it cannot exist on this device.
  static Buffer create(Device& device, uint64_t size, MemoryKind kind, std::string_view what);

  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  ~Buffer();

  VkBuffer handle() const { return buffer_; }
  uint64_t size() const { return size_; }
  MemoryKind kind() const { return kind_; }
  uint8_t* mapped() const;  // host pointer for Upload/Readback buffers, else nullptr
  explicit operator bool() const { return buffer_ != VK_NULL_HANDLE; }

  // [offset, offset+size); size = UINT64_MAX means "to the end".
  BufferRange range(uint64_t offset = 0, uint64_t size = UINT64_MAX) const;
  // The buffer cut into consecutive ranges no larger than max_slice (default: the device's
  // maxStorageBufferRange, rounded down to minStorageBufferOffsetAlignment) for binding.
  std::vector<BufferRange> slices(uint64_t max_slice = 0) const;

 private:
  friend class Arena;
  Buffer(Device* device, VkBuffer buffer, uint64_t size, MemoryKind kind,
         std::shared_ptr<MemoryBlock> block, uint64_t block_offset);
  void release() noexcept;

  Device* device_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  uint64_t size_ = 0;
  MemoryKind kind_ = MemoryKind::DeviceLocal;
  std::shared_ptr<MemoryBlock> block_;
  uint64_t block_offset_ = 0;
};

// Places many buffers in a few large allocations of `block_size` bytes (clamped to the device's
// maxMemoryAllocationSize); a buffer larger than block_size gets a block of its own size.
class Arena {
 public:
  Arena(Device& device, MemoryKind kind, uint64_t block_size, std::string what);
  Buffer allocate(uint64_t size, std::string_view what);
  uint64_t allocated_bytes() const { return allocated_; }  // sum of block sizes
  size_t block_count() const { return blocks_; }

 private:
  Device& device_;
  MemoryKind kind_;
  uint64_t block_size_;
  std::string what_;
  std::shared_ptr<MemoryBlock> current_;
  uint64_t used_ = 0;
  uint64_t allocated_ = 0;
  size_t blocks_ = 0;
};

// Usage flags of every dsv4 buffer: storage, transfer source/destination, indirect arguments.
constexpr VkBufferUsageFlags kBufferUsage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
    VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT;

// "1.50 GiB"
std::string format_bytes(uint64_t bytes);

}  // namespace dsv4::vk
