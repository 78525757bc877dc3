#include "vk/device.h"

#include <bit>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "vk/device_select.h"
#include "vk/error.h"
#include "vk/feature_chain.h"
#include "vk/make.h"
#include "vk/memory.h"
#include "vk/ext_compat.h"

namespace dsv4::vk {

Caps effective_caps(const Caps& probed, const DeviceOptions& o) {
  Caps c = probed;
  c.fp16 = c.fp16 && o.fp16;
  c.int8 = c.int8 && o.int8;
  if (!o.storage_8bit_16bit)
    c.storage_8bit = c.storage_16bit = c.push_constant_8bit = c.push_constant_16bit = false;
  c.subgroup_size_control = c.subgroup_size_control && o.subgroup_size_control;
  c.integer_dot_product = c.integer_dot_product && o.integer_dot_product;
  c.integer_dot_4x8_packed_accelerated = c.integer_dot_4x8_packed_accelerated && c.integer_dot_product;
  if (!(c.coopmat_khr = c.coopmat_khr && o.coopmat_khr)) c.coopmat_khr_shapes.clear();
  if (!(c.coopmat_nv = c.coopmat_nv && o.coopmat_nv)) c.coopmat_nv_shapes.clear();
  if (!(c.coopmat2_nv = c.coopmat2_nv && o.coopmat2_nv)) c.coopmat2_nv_shapes.clear();
  c.bf16 = c.bf16 && o.bf16;
  c.float8 = c.float8 && o.float8;
  c.memory_budget = c.memory_budget && o.memory_budget;
  if (!o.timestamps) c.timestamp_valid_bits = 0;
  c.pipeline_creation_feedback = c.pipeline_creation_feedback && o.pipeline_creation_feedback;
  c.pipeline_statistics = c.pipeline_statistics && o.pipeline_statistics;
  return c;
}

std::unique_ptr<Device> Device::open(const Instance& instance, std::string_view selector,
                                     DeviceOptions options) {
  std::vector<Caps> all;
  for (const auto& d : instance.devices()) all.push_back(d.caps);
  const size_t i = select_device(all, selector);
  if (const char* limit = std::getenv("DSV4_DEVICE_MEMORY_LIMIT"); limit && *limit && options.memory_limit == 0)
    options.memory_limit = parse_memory_size(limit);
  return std::make_unique<Device>(instance, instance.devices()[i], options);
}

uint64_t parse_memory_size(const std::string& text) {
  size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(std::min(used, text.size()));
  const uint64_t mul = unit.empty() ? 1 : unit == "K" ? 1ull << 10 : unit == "M" ? 1ull << 20 : unit == "G" ? 1ull << 30 : 0;
  if (used == 0 || mul == 0) throw Error("memory size '" + text + "': expected a number with an optional K, M or G");
  return uint64_t(v) * mul;
}

void Device::charge_local(uint64_t bytes, const std::string& label) {
  if (options_.memory_limit > 0 && local_in_use_ + bytes > options_.memory_limit)
    throw OutOfDeviceMemory(label + " does not fit the device memory limit of " + format_bytes(options_.memory_limit) +
                            " (DSV4_DEVICE_MEMORY_LIMIT; " + format_bytes(local_in_use_) + " already in use)");
  local_in_use_ += bytes;
}

namespace {

// A non-negative integer from the environment; -1 when unset. Anything else is a clear error, not
// a silently ignored test switch.
int64_t env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v, &end, 10);
  if (*end || n < 0 || errno != 0) throw Error(std::string(name) + "=" + v + ": expected a non-negative integer");
  return n;
}

}  // namespace

void Device::read_environment() {
  plan_.lost_after = env_count("DSV4_FAULT_DEVICE_LOST_AFTER");
  plan_.hang_after = env_count("DSV4_FAULT_HANG_AFTER");
  const int64_t ms = env_count("DSV4_WATCHDOG_MS");
  if (ms == 0) throw Error("DSV4_WATCHDOG_MS=0: the watchdog needs at least 1 ms");
  if (ms > 0) options_.watchdog = std::chrono::milliseconds(ms);
}

Device::Device(const Instance& instance, const PhysicalDevice& physical, DeviceOptions options)
    : instance_(instance.handle()), physical_(physical.handle), options_(options), probed_(physical.caps) {
  read_environment();
  if (!probed_.usable())
    throw Error("device " + probed_.name + " cannot run dsv4: " + probed_.why_unusable());
  caps_ = effective_caps(probed_, options_);
  vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);
  try {
    create_device(physical);
    vkGetDeviceQueue(device_, caps_.compute_queue_family, 0, &queue_);
    auto pci = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = caps_.compute_queue_family;
    check(vkCreateCommandPool(device_, &pci, nullptr, &pool_), "vkCreateCommandPool");
    timeline_ = create_timeline();
  } catch (...) {
    destroy();
    throw;
  }
}

VkSemaphore Device::create_timeline() {
  auto tci = make<VkSemaphoreTypeCreateInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO);
  tci.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  auto sci = make<VkSemaphoreCreateInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &tci);
  VkSemaphore s = VK_NULL_HANDLE;
  check(vkCreateSemaphore(device_, &sci, nullptr, &s), "vkCreateSemaphore(timeline)");
  return s;
}

void Device::create_device(const PhysicalDevice& physical) {
  FeatureChain fc;
  const Caps& c = caps_;
  const bool v13 = c.api_version >= VK_API_VERSION_1_3;
  std::vector<const char*> exts;

  fc.root.features.shaderInt16 = c.int16;
  fc.root.features.shaderInt64 = c.int64;
  fc.v11.storageBuffer16BitAccess = c.storage_16bit;
  fc.v11.storagePushConstant16 = c.push_constant_16bit;
  fc.v12.timelineSemaphore = VK_TRUE;
  fc.v12.shaderFloat16 = c.fp16;
  fc.v12.shaderInt8 = c.int8;
  fc.v12.storageBuffer8BitAccess = c.storage_8bit;
  fc.v12.storagePushConstant8 = c.push_constant_8bit;
  fc.link(fc.v11);
  fc.link(fc.v12);
  if (v13) {
    fc.v13.subgroupSizeControl = fc.v13.computeFullSubgroups = c.subgroup_size_control;
    fc.v13.shaderIntegerDotProduct = c.integer_dot_product;
    fc.link(fc.v13);
  } else {
    if (c.subgroup_size_control) {
      fc.subgroup_size.subgroupSizeControl = fc.subgroup_size.computeFullSubgroups = VK_TRUE;
      fc.link(fc.subgroup_size);
      exts.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    }
    if (c.integer_dot_product) {
      fc.dot.shaderIntegerDotProduct = VK_TRUE;
      fc.link(fc.dot);
      exts.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    }
    if (c.pipeline_creation_feedback) exts.push_back(VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME);
  }
  if (c.coopmat_khr) {
    fc.coopmat_khr.cooperativeMatrix = VK_TRUE;
    fc.link(fc.coopmat_khr);
    exts.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  }
  if (c.coopmat_nv) {
    fc.coopmat_nv.cooperativeMatrix = VK_TRUE;
    fc.link(fc.coopmat_nv);
    exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  }
  if (c.coopmat_nv || c.coopmat_khr) {
    // glslang's coopmat shaders need GL_KHR_memory_scope_semantics, which declares the
    // VulkanMemoryModel capability: enable the feature where the device has it.
    auto m12 = make<VkPhysicalDeviceVulkan12Features>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
    auto q = make<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &m12);
    vkGetPhysicalDeviceFeatures2(physical.handle, &q);
    fc.v12.vulkanMemoryModel = m12.vulkanMemoryModel;
    fc.v12.vulkanMemoryModelDeviceScope = m12.vulkanMemoryModelDeviceScope;
  }
  // Newer extensions: enable exactly the sub-features the device reports for them.
  auto enable_as_reported = [&](auto& features, const char* extension) {
    auto q = make<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &features);
    vkGetPhysicalDeviceFeatures2(physical.handle, &q);
    features.pNext = nullptr;
    fc.link(features);
    exts.push_back(extension);
  };
  if (c.coopmat2_nv) enable_as_reported(fc.coopmat2_nv, VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
  if (c.bf16) enable_as_reported(fc.bf16, VK_KHR_SHADER_BFLOAT16_EXTENSION_NAME);
  if (c.float8) enable_as_reported(fc.float8, VK_EXT_SHADER_FLOAT8_EXTENSION_NAME);
  if (c.memory_budget) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (c.pipeline_statistics) {
    fc.executable_info.pipelineExecutableInfo = VK_TRUE;
    fc.link(fc.executable_info);
    exts.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  }

  const float priority = 1.0f;
  auto qci = make<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  qci.queueFamilyIndex = c.compute_queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  auto dci = make<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &fc.root);
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = uint32_t(exts.size());
  dci.ppEnabledExtensionNames = exts.data();
  check(vkCreateDevice(physical_, &dci, nullptr, &device_), "vkCreateDevice");
}

Device::~Device() { destroy(); }

void Device::destroy() noexcept {
  if (device_ == VK_NULL_HANDLE) return;
  release_injected_hang();
  // A really hung queue never goes idle: skip the wait and free what can be freed.
  if (fault_ != Fault::hung || hang_) vkDeviceWaitIdle(device_);
  if (hang_) vkDestroySemaphore(device_, hang_, nullptr);
  if (timeline_) vkDestroySemaphore(device_, timeline_, nullptr);
  if (pool_) vkDestroyCommandPool(device_, pool_, nullptr);
  vkDestroyDevice(device_, nullptr);
  device_ = VK_NULL_HANDLE;
}

uint32_t Device::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                             VkMemoryPropertyFlags preferred, VkMemoryPropertyFlags avoided) const {
  uint32_t best = UINT32_MAX;
  int best_score = INT32_MIN;
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags f = memory_.memoryTypes[i].propertyFlags;
    if (!(type_bits & (1u << i)) || (f & required) != required) continue;
    const int score = 2 * std::popcount(uint32_t(f & preferred)) - std::popcount(uint32_t(f & avoided));
    if (score > best_score) best = i, best_score = score;
  }
  return best;
}

uint32_t Device::memory_heap_of(uint32_t type) const { return memory_.memoryTypes[type].heapIndex; }

void Device::refresh_budget() { refresh_memory_budget(physical_, caps_); }

uint64_t Device::submit(VkCommandBuffer cmd) {
  if (fault_ != Fault::none) throw_fault("vkQueueSubmit");
  const uint64_t value = last_submitted_ + 1;
  const bool hang = plan_.hang_after >= 0 && value == uint64_t(plan_.hang_after) + 1;
  if (hang && !hang_) hang_ = create_timeline();
  const uint64_t hang_value = 1;  // never signalled by the GPU: only release_injected_hang() does
  const VkPipelineStageFlags hang_stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  auto tsi = make<VkTimelineSemaphoreSubmitInfo>(VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO);
  tsi.signalSemaphoreValueCount = 1;
  tsi.pSignalSemaphoreValues = &value;
  auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO, &tsi);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  si.signalSemaphoreCount = 1;
  si.pSignalSemaphores = &timeline_;
  if (hang) {
    tsi.waitSemaphoreValueCount = 1;
    tsi.pWaitSemaphoreValues = &hang_value;
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &hang_;
    si.pWaitDstStageMask = &hang_stage;
  }
  check(vkQueueSubmit(queue_, 1, &si, VK_NULL_HANDLE), "vkQueueSubmit");
  last_submitted_ = value;
  return value;
}

void Device::wait(uint64_t value) { wait_for(value, options_.watchdog, true); }

void Device::wait(uint64_t value, std::chrono::nanoseconds timeout) { wait_for(value, timeout, false); }

// Only the watchdog (not a caller's own short timeout) declares the device hung.
void Device::wait_for(uint64_t value, std::chrono::nanoseconds timeout, bool watchdog) {
  if (fault_ != Fault::none) throw_fault("vkWaitSemaphores");
  auto wi = make<VkSemaphoreWaitInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO);
  wi.semaphoreCount = 1;
  wi.pSemaphores = &timeline_;
  wi.pValues = &value;
  const VkResult r = vkWaitSemaphores(device_, &wi, uint64_t(timeout.count()));
  if (r == VK_TIMEOUT && !watchdog)
    throw Timeout("GPU submission " + std::to_string(value) + " did not complete within " +
                  std::to_string(timeout.count() / 1'000'000) + " ms; device " + caps_.name + " may be hung");
  if (r == VK_TIMEOUT) {
    fault_ = Fault::hung;
    release_injected_hang();
    throw Timeout("GPU step did not finish within " + std::to_string(options_.watchdog.count()) + " ms (submission " +
                  std::to_string(value) + " on " + caps_.name + "; the watchdog is $DSV4_WATCHDOG_MS" +
                  (hang_ ? ", hang injected by $DSV4_FAULT_HANG_AFTER" : "") + "); the device may be hung");
  }
  if (r == VK_ERROR_DEVICE_LOST) fault_ = Fault::lost;
  check(r, "vkWaitSemaphores");
  if (plan_.lost_after >= 0 && value > uint64_t(plan_.lost_after)) {
    // Drain the real work first: a lost device runs nothing more, so nothing may stay pending.
    value = last_submitted_;
    vkWaitSemaphores(device_, &wi, uint64_t(std::chrono::nanoseconds(options_.watchdog).count()));
    fault_ = Fault::lost;
    throw_fault("vkWaitSemaphores");
  }
}

void Device::throw_fault(const char* call) const {
  if (fault_ == Fault::lost) {
    const std::string injected = plan_.lost_after >= 0 ? " (injected by $DSV4_FAULT_DEVICE_LOST_AFTER)" : "";
    throw DeviceLost(std::string(call) + " failed: VK_ERROR_DEVICE_LOST (the GPU was lost: driver reset, hang or removal)" +
                     injected);
  }
  throw Timeout("GPU step did not finish within " + std::to_string(options_.watchdog.count()) + " ms (" + caps_.name +
                " already missed its watchdog; " + call + " not attempted); the device may be hung");
}

// Lets the injected hung submission run (host signal), so teardown frees nothing still pending.
void Device::release_injected_hang() noexcept {
  if (!hang_ || hang_released_) return;
  auto si = make<VkSemaphoreSignalInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO);
  si.semaphore = hang_;
  si.value = 1;
  vkSignalSemaphore(device_, &si);
  hang_released_ = true;
  auto wi = make<VkSemaphoreWaitInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO);
  wi.semaphoreCount = 1;
  wi.pSemaphores = &timeline_;
  wi.pValues = &last_submitted_;
  // The released work is real and finishes, but may take longer than the (test-short) watchdog,
  // e.g. on lavapipe under ASan: returning early let teardown free memory the queue still used.
  const std::chrono::nanoseconds drain = std::max<std::chrono::nanoseconds>(options_.watchdog, std::chrono::minutes(5));
  vkWaitSemaphores(device_, &wi, uint64_t(drain.count()));
}

uint64_t Device::completed_value() const {
  if (fault_ == Fault::lost) throw_fault("vkGetSemaphoreCounterValue");
  uint64_t v = 0;
  check(vkGetSemaphoreCounterValue(device_, timeline_, &v), "vkGetSemaphoreCounterValue");
  return v;
}

void Device::wait_idle() {
  if (fault_ != Fault::none) throw_fault("vkDeviceWaitIdle");
  if (last_submitted_ > 0) wait(last_submitted_);  // the watchdog and the injected faults apply
  check(vkDeviceWaitIdle(device_), "vkDeviceWaitIdle");
}

}  // namespace dsv4::vk
