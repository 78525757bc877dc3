// A logical Vulkan device: one compute queue, the features dsv4 uses (only those that exist, each
// with a switch in DeviceOptions), a device-wide timeline semaphore that every submission signals,
// and a watchdog on waits. Not thread-safe: one thread drives a Device.
//
// Fault injection (for testing the error paths of everything above it, on any machine), read once
// by the constructor from the environment:
//   DSV4_FAULT_DEVICE_LOST_AFTER=N  the wait for submission N+1, and every later call that touches
//                                   the queue, throws vk::DeviceLost as a real VK_ERROR_DEVICE_LOST
//                                   would (the real work is drained first, so teardown stays clean).
//   DSV4_FAULT_HANG_AFTER=N         submission N+1 also waits on a semaphore nobody signals, so it
//                                   never completes and the watchdog raises vk::Timeout.
//   DSV4_WATCHDOG_MS=M              overrides DeviceOptions::watchdog.
// After a fault (injected or real) the device stays faulted: submit/wait/wait_idle throw the same
// error at once instead of waiting again, so destructors that swallow it never block.
#pragma once
#include <vulkan/vulkan.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "vk/caps.h"
#include "vk/instance.h"

namespace dsv4::vk {

// Every fast path can be turned off here; a feature is enabled only if the device has it too.
struct DeviceOptions {
  bool fp16 = true;
  bool int8 = true;
  bool storage_8bit_16bit = true;
  bool subgroup_size_control = true;
  bool integer_dot_product = true;
  bool coopmat_khr = true;
  bool coopmat_nv = true;
  bool coopmat2_nv = true;
  bool bf16 = true;
  bool float8 = true;
  bool memory_budget = true;
  bool timestamps = true;
  bool pipeline_creation_feedback = true;
  // Capture every kernel's compiler statistics (vk::Kernel::statistics; bench --kernel-stats). Off
  // by default: drivers may compile differently, or skip their caches, to keep them.
  bool pipeline_statistics = false;
  // How long wait() lets a submission run before raising vk::Timeout.
  std::chrono::milliseconds watchdog{60'000};
  // An artificial cap on device-local memory (bytes; 0 = the heap's own size): allocations past it
  // fail with vk::OutOfDeviceMemory exactly as a full device would, so out-of-memory paths can be
  // tested on any machine. Device::open takes it from $DSV4_DEVICE_MEMORY_LIMIT ("512M", "2G").
  uint64_t memory_limit = 0;
};

// Parses "123", "512K", "512M", "2G" (powers of 1024); throws vk::Error on anything else.
uint64_t parse_memory_size(const std::string& text);

class Device {
 public:
  Device(const Instance& instance, const PhysicalDevice& physical, DeviceOptions options = {});
  // Picks the device with select_device(selector) (see device_select.h).
  static std::unique_ptr<Device> open(const Instance& instance, std::string_view selector,
                                      DeviceOptions options = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkInstance instance() const { return instance_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return caps_.compute_queue_family; }
  VkCommandPool command_pool() const { return pool_; }
  const DeviceOptions& options() const { return options_; }
  // What dsv4 enabled (probed capabilities with switched-off or missing features cleared).
  const Caps& caps() const { return caps_; }
  // What the hardware reported.
  const Caps& probed() const { return probed_; }

  // Memory type index with all `required` flags, as many `preferred` and as few `avoided` flags
  // as possible, among `type_bits`; UINT32_MAX if none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                       VkMemoryPropertyFlags preferred = 0, VkMemoryPropertyFlags avoided = 0) const;
  uint32_t memory_heap_of(uint32_t memory_type) const;
  VkMemoryPropertyFlags memory_flags(uint32_t memory_type) const { return memory_.memoryTypes[memory_type].propertyFlags; }
  // Re-reads heap budgets (VK_EXT_memory_budget) into caps().heaps.
  void refresh_budget();

  // Submits one command buffer; returns the timeline value that signals its completion.
  uint64_t submit(VkCommandBuffer cmd);
  // Waits until the timeline reaches `value`. Throws vk::Timeout after `timeout` (default: the
  // watchdog), vk::DeviceLost if the device is lost.
  void wait(uint64_t value);
  void wait(uint64_t value, std::chrono::nanoseconds timeout);
  uint64_t completed_value() const;
  uint64_t last_submitted() const { return last_submitted_; }
  void wait_idle();

  // Device-local bytes allocated through dsv4 (MemoryBlock), checked against options().memory_limit.
  uint64_t local_in_use() const { return local_in_use_; }
  void charge_local(uint64_t bytes, const std::string& label);  // throws vk::OutOfDeviceMemory
  void release_local(uint64_t bytes) { local_in_use_ -= std::min(bytes, local_in_use_); }

  enum class Fault { none, lost, hung };
  // The fault this device has reported (vk::DeviceLost or a watchdog vk::Timeout), if any.
  Fault fault() const { return fault_; }

 private:
  // Submission numbers after which a fault is injected; -1: never.
  struct FaultPlan {
    int64_t lost_after = -1, hang_after = -1;
  };
  void create_device(const PhysicalDevice& physical);
  void destroy() noexcept;
  void read_environment();
  void wait_for(uint64_t value, std::chrono::nanoseconds timeout, bool watchdog);
  [[noreturn]] void throw_fault(const char* call) const;
  VkSemaphore create_timeline();
  void release_injected_hang() noexcept;

  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  uint64_t last_submitted_ = 0;
  uint64_t local_in_use_ = 0;
  FaultPlan plan_;
  Fault fault_ = Fault::none;
  VkSemaphore hang_ = VK_NULL_HANDLE;  // what the injected hung submission waits on
  bool hang_released_ = false;
  DeviceOptions options_;
  Caps probed_, caps_;
  VkPhysicalDeviceMemoryProperties memory_{};
};

// Caps with every feature that `options` turns off cleared.
Caps effective_caps(const Caps& probed, const DeviceOptions& options);

}  // namespace dsv4::vk
