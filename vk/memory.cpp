#include "vk/memory.h"

#include <algorithm>
#include <cstdio>

#include "vk/device.h"
#include "vk/error.h"
#include "vk/make.h"

namespace dsv4::vk {

namespace {

VkMemoryPropertyFlags required_flags(MemoryKind kind) {
  if (kind == MemoryKind::DeviceLocal) return 0;  // device-local preferred, not required (UMA, CPU)
  return VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
}

VkMemoryPropertyFlags preferred_flags(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::DeviceLocal: return VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    case MemoryKind::Upload: return 0;
    case MemoryKind::Readback: return VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  }
  return 0;
}

const char* kind_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::DeviceLocal: return "device-local";
    case MemoryKind::Upload: return "upload";
    case MemoryKind::Readback: return "readback";
  }
  return "?";
}

VkBuffer create_vk_buffer(Device& device, uint64_t size, std::string_view what) {
  const Caps& caps = device.caps();
  if (size == 0) throw Error("buffer '" + std::string(what) + "' has size 0");
  if (size > caps.max_buffer_size)
    throw OutOfDeviceMemory("allocating '" + std::string(what) + "': " + format_bytes(size) +
                            " exceeds the device's maxBufferSize of " +
                            format_bytes(caps.max_buffer_size));
  auto ci = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  ci.size = size;
  ci.usage = kBufferUsage;
  ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buffer = VK_NULL_HANDLE;
  check(vkCreateBuffer(device.handle(), &ci, nullptr, &buffer), "vkCreateBuffer");
  return buffer;
}

uint32_t pick_memory_type(Device& device, uint32_t type_bits, MemoryKind kind, std::string_view what) {
  // Tensors avoid host-visible device memory and staging avoids device-local host-visible memory:
  // on discrete GPUs that is the small BAR window, not worth spending on either.
  const VkMemoryPropertyFlags avoided = kind == MemoryKind::DeviceLocal ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
                                                                       : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  const uint32_t type = device.memory_type(type_bits, required_flags(kind), preferred_flags(kind), avoided);
  if (type == UINT32_MAX)
    throw Error(std::string("no ") + kind_name(kind) + " memory type for '" + std::string(what) + "'");
  return type;
}

std::string budget_text(const MemoryHeap& heap) {
  return "heap " + format_bytes(heap.size) + ", budget " + format_bytes(heap.budget) + ", in use " +
         format_bytes(heap.usage);
}

}  // namespace

std::string format_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  char buf[48];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  return buf;
}

MemoryBlock::MemoryBlock(Device& device, uint64_t size, uint32_t memory_type, std::string_view what)
    : device_(device.handle()), memory_type_(memory_type), size_(size) {
  device.refresh_budget();
  const Caps& caps = device.caps();
  const MemoryHeap& heap = caps.heaps.at(device.memory_heap_of(memory_type));
  const std::string label = "allocating '" + std::string(what) + "': " + format_bytes(size);
  if (size > caps.max_memory_allocation_size)
    throw OutOfDeviceMemory(label + " exceeds the device's maxMemoryAllocationSize of " +
                            format_bytes(caps.max_memory_allocation_size) + " (" + budget_text(heap) + ")");
  if (size > heap.size)
    throw OutOfDeviceMemory(label + " exceeds the memory heap (" + budget_text(heap) + ")");
  const bool local = (device.memory_flags(memory_type) & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) != 0;
  if (local) {
    device.charge_local(size, label);
    owner_ = &device;
  }
  auto ai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  ai.allocationSize = size;
  ai.memoryTypeIndex = memory_type;
  const VkResult r = vkAllocateMemory(device_, &ai, nullptr, &memory_);
  if (r != VK_SUCCESS && owner_) {
    owner_->release_local(size);
    owner_ = nullptr;
  }
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
    throw OutOfDeviceMemory(label + ": the driver is out of memory (" + budget_text(heap) + ")");
  check(r, "vkAllocateMemory");
  VkMemoryPropertyFlags flags = 0;
  VkPhysicalDeviceMemoryProperties props;
  vkGetPhysicalDeviceMemoryProperties(device.physical(), &props);
  flags = props.memoryTypes[memory_type].propertyFlags;
  if (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    void* p = nullptr;
    const VkResult m = vkMapMemory(device_, memory_, 0, VK_WHOLE_SIZE, 0, &p);
    if (m != VK_SUCCESS) {
      vkFreeMemory(device_, memory_, nullptr);
      if (owner_) owner_->release_local(size_);
      check(m, "vkMapMemory");
    }
    mapped_ = static_cast<uint8_t*>(p);
  }
}

MemoryBlock::~MemoryBlock() {
  if (owner_) owner_->release_local(size_);
  if (memory_ == VK_NULL_HANDLE) return;
  if (mapped_) vkUnmapMemory(device_, memory_);
  vkFreeMemory(device_, memory_, nullptr);
}

Buffer::Buffer(Device* device, VkBuffer buffer, uint64_t size, MemoryKind kind,
               std::shared_ptr<MemoryBlock> block, uint64_t block_offset)
    : device_(device), buffer_(buffer), size_(size), kind_(kind), block_(std::move(block)),
      block_offset_(block_offset) {}

Buffer::Buffer(Buffer&& o) noexcept { *this = std::move(o); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this == &o) return *this;
  release();
  device_ = o.device_;
  buffer_ = o.buffer_;
  size_ = o.size_;
  kind_ = o.kind_;
  block_ = std::move(o.block_);
  block_offset_ = o.block_offset_;
  o.buffer_ = VK_NULL_HANDLE;
  o.size_ = 0;
  return *this;
}

Buffer::~Buffer() { release(); }

void Buffer::release() noexcept {
  if (buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(device_->handle(), buffer_, nullptr);
  buffer_ = VK_NULL_HANDLE;
  block_.reset();
}

uint8_t* Buffer::mapped() const {
  return block_ && block_->mapped() ? block_->mapped() + block_offset_ : nullptr;
}

Buffer Buffer::create(Device& device, uint64_t size, MemoryKind kind, std::string_view what) {
  Arena arena(device, kind, size, std::string(what));
  return arena.allocate(size, what);
}

BufferRange Buffer::range(uint64_t offset, uint64_t size) const {
  if (offset > size_) throw Error("buffer range offset " + std::to_string(offset) + " beyond size " + std::to_string(size_));
  if (size == UINT64_MAX) size = size_ - offset;
  if (size > size_ - offset)
    throw Error("buffer range [" + std::to_string(offset) + ", +" + std::to_string(size) +
                ") exceeds the buffer's " + std::to_string(size_) + " bytes");
  return {buffer_, offset, size};
}

std::vector<BufferRange> Buffer::slices(uint64_t max_slice) const {
  const Caps& caps = device_->caps();
  const uint64_t align = std::max<uint64_t>(caps.min_storage_buffer_offset_alignment, 4);
  if (max_slice == 0 || max_slice > caps.max_storage_buffer_range) max_slice = caps.max_storage_buffer_range;
  max_slice -= max_slice % align;  // every slice but the last starts on an aligned offset
  if (max_slice == 0) throw Error("slice size smaller than minStorageBufferOffsetAlignment");
  std::vector<BufferRange> out;
  for (uint64_t off = 0; off < size_; off += max_slice)
    out.push_back({buffer_, off, std::min(max_slice, size_ - off)});
  return out;
}

Arena::Arena(Device& device, MemoryKind kind, uint64_t block_size, std::string what)
    : device_(device), kind_(kind),
      block_size_(std::min(block_size, device.caps().max_memory_allocation_size)), what_(std::move(what)) {}

Buffer Arena::allocate(uint64_t size, std::string_view what) {
  VkBuffer vkbuf = create_vk_buffer(device_, size, what);
  try {
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device_.handle(), vkbuf, &req);
    const uint64_t align = std::max<uint64_t>(req.alignment, 1);
    uint64_t offset = (used_ + align - 1) / align * align;
    if (!current_ || offset + req.size > current_->size() ||
        !(req.memoryTypeBits & (1u << current_->memory_type()))) {
      const uint32_t type = pick_memory_type(device_, req.memoryTypeBits, kind_, what);
      const uint64_t bytes = std::max(block_size_, req.size);
      current_ = std::make_shared<MemoryBlock>(device_, bytes, type,
                                               bytes == req.size ? what : std::string_view(what_));
      allocated_ += bytes;
      ++blocks_;
      offset = 0;
    }
    check(vkBindBufferMemory(device_.handle(), vkbuf, current_->handle(), offset), "vkBindBufferMemory");
    used_ = offset + req.size;
    return Buffer(&device_, vkbuf, size, kind_, current_, offset);
  } catch (...) {
    vkDestroyBuffer(device_.handle(), vkbuf, nullptr);
    throw;
  }
}

}  // namespace dsv4::vk
