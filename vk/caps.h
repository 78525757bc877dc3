// What a Vulkan device can do, probed once (design.md §3). Plain data: the same struct describes
// what the hardware offers (Device::probed()) and what dsv4 turned on (Device::caps()).
#pragma once
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dsv4::vk {

// One supported cooperative-matrix configuration: C[MxN] += A[MxK] * B[KxN].
// Types are the registry's names without prefix ("float16", "sint8", "bfloat16", ...).
struct CoopMatShape {
  uint32_t m = 0, n = 0, k = 0;
  std::string a_type, b_type, c_type, result_type;
  bool saturating_accumulation = false;
  std::string scope;  // "subgroup", "workgroup", ...
  uint32_t workgroup_invocations = 0;  // NV coopmat2 flexible dimensions only (then m/n/k = granularity)
};

struct MemoryHeap {
  uint64_t size = 0;
  uint64_t budget = 0;  // VK_EXT_memory_budget; = size when the extension is missing
  uint64_t usage = 0;   // bytes this process and others use, as the driver reports it
  bool device_local = false;
};

struct Caps {
  // identity
  uint32_t index = 0;  // position in vkEnumeratePhysicalDevices
  std::string name;
  std::string type;  // "discrete", "integrated", "virtual", "cpu", "other"
  VkPhysicalDeviceType vk_type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t vendor_id = 0, device_id = 0;
  uint32_t api_version = 0, driver_version = 0;
  std::string driver_name, driver_info;
  std::array<uint8_t, VK_UUID_SIZE> pipeline_cache_uuid{};
  std::array<uint8_t, VK_UUID_SIZE> device_uuid{};

  // arithmetic types in shaders
  bool fp16 = false, int8 = false, int16 = false, int64 = false;
  bool bf16 = false;    // VK_KHR_shader_bfloat16 (shaderBFloat16Type)
  bool float8 = false;  // VK_EXT_shader_float8
  bool storage_8bit = false, storage_16bit = false;  // 8/16-bit types in storage buffers
  bool push_constant_8bit = false, push_constant_16bit = false;

  // subgroups
  uint32_t subgroup_size = 0, min_subgroup_size = 0, max_subgroup_size = 0;
  bool subgroup_size_control = false;            // pipelines may require a subgroup size
  std::vector<std::string> subgroup_operations;  // "basic", "vote", "arithmetic", ...

  // matrix and dot-product units
  bool coopmat_khr = false, coopmat_nv = false, coopmat2_nv = false;
  std::vector<CoopMatShape> coopmat_khr_shapes, coopmat_nv_shapes, coopmat2_nv_shapes;
  bool integer_dot_product = false;             // VK_KHR_shader_integer_dot_product
  bool integer_dot_4x8_packed_accelerated = false;

  // float controls: can a shader keep fp32 denormals (e.g. e8m0 0x00 = 2^-127)? fp16 denormals
  // (the coopmat MoE's e2m1 decode multiplies 0.5 * 2^-14 as an fp16 subnormal)?
  bool denorm_preserve_fp32 = false, denorm_flush_fp32 = false;
  bool denorm_preserve_fp16 = false;

  // limits
  uint64_t max_storage_buffer_range = 0;
  uint64_t max_memory_allocation_size = 0;
  uint64_t max_buffer_size = 0;  // maintenance4; = max_memory_allocation_size when unknown
  uint64_t min_storage_buffer_offset_alignment = 0;
  uint32_t max_push_constants_size = 0;
  uint32_t max_compute_shared_memory = 0;
  uint32_t max_workgroup_invocations = 0;
  std::array<uint32_t, 3> max_workgroup_size{}, max_workgroup_count{};

  // memory
  std::vector<MemoryHeap> heaps;
  bool memory_budget = false;  // VK_EXT_memory_budget

  // queues and sync
  uint32_t compute_queue_family = UINT32_MAX;  // UINT32_MAX: no compute queue
  uint32_t timestamp_valid_bits = 0;           // of the compute queue; 0 = no timestamps
  float timestamp_period_ns = 0;
  bool timeline_semaphore = false;
  bool pipeline_creation_feedback = false;
  // VK_KHR_pipeline_executable_properties: the driver reports each compiled kernel's statistics
  // (registers, shared and local memory on NVIDIA). Enabled only on request (DeviceOptions).
  bool pipeline_statistics = false;
  bool buffer_device_address = false;

  std::vector<std::string> extensions;  // every device extension (for enabling)
  bool has_extension(const char* name) const;
  bool has_subgroup_operation(const char* name) const;  // one of subgroup_operations' names
  // Usable by dsv4: Vulkan >= 1.2, a compute queue, timeline semaphores.
  bool usable() const;
  std::string why_unusable() const;  // empty when usable()
};

// Probes every capability above. Needs an instance created with API version >= 1.1.
Caps probe_caps(VkInstance instance, VkPhysicalDevice physical, uint32_t index);

// "1.3.230"
std::string version_string(uint32_t api_version);
// Refreshes heaps[].budget/usage (VK_EXT_memory_budget) without re-probing the rest.
void refresh_memory_budget(VkPhysicalDevice physical, Caps& caps);

}  // namespace dsv4::vk
