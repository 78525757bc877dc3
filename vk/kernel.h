// A compute kernel: one embedded SPIR-V module turned into a pipeline with its own descriptor-set
// layout (storage buffers at bindings 0..buffers-1), push-constant range and specialization
// constants. The kernel object owns pipeline and layouts; Recordings reference it.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dsv4::vk {

class Device;
class PipelineCache;

struct SpecConstant {
  uint32_t id;     // layout(constant_id = id)
  uint32_t value;  // 32-bit: uint/int/bool, or a float's bits
};

// One compiler statistic of a kernel as the driver names it (e.g. NVIDIA's "Register Count").
struct KernelStatistic {
  std::string name;
  std::string value;  // the number (or true/false) as text
};

struct KernelDesc {
  std::string shader;  // name in shaders::find(), e.g. "test/decode_formats"
  uint32_t buffers = 0;             // storage buffers at bindings 0..buffers-1 of set 0
  uint32_t push_constant_bytes = 0;  // multiple of 4, <= maxPushConstantsSize
  std::vector<SpecConstant> spec;    // e.g. tile sizes, subgroup size
  uint32_t required_subgroup_size = 0;  // 0: driver's choice; else needs subgroup_size_control
};

class Kernel {
 public:
  Kernel(Device& device, KernelDesc desc, PipelineCache* cache = nullptr);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  const KernelDesc& desc() const { return desc_; }
  const std::string& name() const { return desc_.shader; }
  VkPipeline pipeline() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  // VK_EXT_pipeline_creation_feedback: whether the driver found the pipeline in the cache
  // (nullopt when the device does not report it).
  std::optional<bool> cache_hit() const { return cache_hit_; }
  // The driver's statistics of the compiled kernel (VK_KHR_pipeline_executable_properties); empty
  // unless the device was opened with DeviceOptions::pipeline_statistics and supports them.
  const std::vector<KernelStatistic>& statistics() const { return statistics_; }

 private:
  void destroy() noexcept;
  Device& device_;
  KernelDesc desc_;
  VkShaderModule module_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  std::optional<bool> cache_hit_;
  std::vector<KernelStatistic> statistics_;
};

}  // namespace dsv4::vk
