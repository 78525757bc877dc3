// A fixed list of dispatches recorded once into a command buffer and resubmitted as often as
// needed (design.md §3). Barriers come from each dispatch's declared reads and writes
// (vk/barriers.h), plus one at the start (after uploads / the previous submission) and one at the
// end (before downloads / host reads). Optional timestamps give per-dispatch times.
#pragma once
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "vk/barriers.h"
#include "vk/memory.h"

namespace dsv4::vk {

class Device;
class Kernel;

enum class Access { Read, Write, ReadWrite };

struct Binding {
  BufferRange range;  // <= maxStorageBufferRange, offset aligned to minStorageBufferOffsetAlignment
  Access access = Access::Read;
};

struct Dispatch {
  const Kernel* kernel = nullptr;
  std::vector<Binding> buffers;  // buffers[i] is binding i of the kernel's set 0
  std::vector<uint32_t> push;    // push-constant words; exactly the kernel's push_constant_bytes
  std::array<uint32_t, 3> groups{1, 1, 1};
  std::optional<BufferRange> indirect;  // VkDispatchIndirectCommand read on the GPU instead of groups
  std::string label;                    // names the dispatch in errors and profiles
};

// The words of a trivially copyable push-constant struct.
template <typename T>
std::vector<uint32_t> push_words(const T& value) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % 4 == 0);
  std::vector<uint32_t> words(sizeof(T) / 4);
  std::memcpy(words.data(), &value, sizeof(T));
  return words;
}

struct RecordingOptions {
  bool timestamps = false;  // ignored where the queue has no timestamps (or DeviceOptions off)
};

// The dispatches in vk::level_order of their declared accesses: the same results with as few
// barriers as their dependencies allow (independent dispatches move up beside each other).
std::vector<Dispatch> order_by_levels(std::vector<Dispatch> dispatches);
// Where a Recording of `dispatches` (in this order) puts its barriers (vk::plan_barriers).
std::vector<BarrierPoint> plan_barriers(const std::vector<Dispatch>& dispatches);

class Recording {
 public:
  // Validates every dispatch (binding count, push size, ranges, group counts) and records them.
  // Throws vk::Error naming the dispatch (label or index) at fault.
  Recording(Device& device, std::vector<Dispatch> dispatches, RecordingOptions options = {});
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  // Submits the recording (first waiting for its own previous submission); returns the
  // device timeline value that marks its completion.
  uint64_t submit();
  // Waits for the last submission (device watchdog: vk::Timeout, vk::DeviceLost).
  void wait();
  void run() {
    submit();
    wait();
  }

  size_t size() const { return dispatches_.size(); }
  size_t barrier_count() const { return barriers_; }  // between dispatches, excluding start/end
  bool has_timestamps() const { return queries_ != VK_NULL_HANDLE; }
  // Nanoseconds from the end of the previous dispatch (or the start) to the end of dispatch i,
  // for the last completed submission; empty without timestamps.
  std::vector<double> dispatch_times_ns() const;

 private:
  void validate() const;
  void allocate_descriptors();
  void record();
  void destroy() noexcept;

  Device& device_;
  std::vector<Dispatch> dispatches_;
  RecordingOptions options_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorSet> sets_;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  size_t barriers_ = 0;
  uint64_t last_value_ = 0;
};

}  // namespace dsv4::vk
