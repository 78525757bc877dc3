#include "vk/kernel.h"

#include "embedded_shaders.h"
#include "vk/device.h"
#include "vk/error.h"
#include "vk/make.h"
#include "vk/pipeline_cache.h"

namespace dsv4::vk {

namespace {

void validate(const Device& device, const KernelDesc& d) {
  const Caps& caps = device.caps();
  if (d.push_constant_bytes % 4 != 0 || d.push_constant_bytes > caps.max_push_constants_size)
    throw Error("kernel '" + d.shader + "': push constants of " + std::to_string(d.push_constant_bytes) +
                " bytes (must be a multiple of 4 and <= " + std::to_string(caps.max_push_constants_size) + ")");
  if (d.required_subgroup_size != 0 &&
      (!caps.subgroup_size_control || d.required_subgroup_size < caps.min_subgroup_size ||
       d.required_subgroup_size > caps.max_subgroup_size))
    throw Error("kernel '" + d.shader + "': subgroup size " + std::to_string(d.required_subgroup_size) +
                " is not available on " + caps.name);
}

std::string statistic_text(const VkPipelineExecutableStatisticKHR& s) {
  switch (s.format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: return s.value.b32 ? "true" : "false";
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: return std::to_string(s.value.i64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: return std::to_string(s.value.u64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: return std::to_string(s.value.f64);
    default: return "?";
  }
}

// The statistics of every executable of `pipeline` (a compute pipeline has one; a second one's
// names get its index as a prefix).
std::vector<KernelStatistic> query_statistics(VkDevice dev, VkPipeline pipeline) {
  const auto props = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(dev, "vkGetPipelineExecutablePropertiesKHR"));
  const auto stats = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(dev, "vkGetPipelineExecutableStatisticsKHR"));
  if (!props || !stats) return {};
  auto info = make<VkPipelineInfoKHR>(VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR);
  info.pipeline = pipeline;
  uint32_t n = 0;
  check(props(dev, &info, &n, nullptr), "vkGetPipelineExecutablePropertiesKHR");
  std::vector<KernelStatistic> out;
  for (uint32_t e = 0; e < n; ++e) {
    auto ei = make<VkPipelineExecutableInfoKHR>(VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR);
    ei.pipeline = pipeline;
    ei.executableIndex = e;
    uint32_t m = 0;
    check(stats(dev, &ei, &m, nullptr), "vkGetPipelineExecutableStatisticsKHR");
    std::vector<VkPipelineExecutableStatisticKHR> s(m, make<VkPipelineExecutableStatisticKHR>(
                                                           VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR));
    check(stats(dev, &ei, &m, s.data()), "vkGetPipelineExecutableStatisticsKHR");
    for (uint32_t i = 0; i < m; ++i)
      out.push_back({(e > 0 ? std::to_string(e) + ": " : std::string()) + s[i].name, statistic_text(s[i])});
  }
  return out;
}

}  // namespace

Kernel::Kernel(Device& device, KernelDesc desc, PipelineCache* cache) : device_(device), desc_(std::move(desc)) {
  validate(device, desc_);
  const shaders::Spirv* spirv = shaders::find(desc_.shader);
  if (!spirv) throw Error("no embedded shader named '" + desc_.shader + "'");
  const VkDevice dev = device.handle();
  try {
    auto mci = make<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
    mci.codeSize = spirv->word_count * 4;
    mci.pCode = spirv->words;
    check(vkCreateShaderModule(dev, &mci, nullptr, &module_), "vkCreateShaderModule");

    std::vector<VkDescriptorSetLayoutBinding> bindings(desc_.buffers);
    for (uint32_t i = 0; i < desc_.buffers; ++i)
      bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    auto dci = make<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
    dci.bindingCount = desc_.buffers;
    dci.pBindings = bindings.data();
    check(vkCreateDescriptorSetLayout(dev, &dci, nullptr, &set_layout_), "vkCreateDescriptorSetLayout");

    const VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, desc_.push_constant_bytes};
    auto lci = make<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
    lci.setLayoutCount = 1;
    lci.pSetLayouts = &set_layout_;
    lci.pushConstantRangeCount = desc_.push_constant_bytes ? 1 : 0;
    lci.pPushConstantRanges = &push;
    check(vkCreatePipelineLayout(dev, &lci, nullptr, &layout_), "vkCreatePipelineLayout");

    std::vector<VkSpecializationMapEntry> entries;
    std::vector<uint32_t> values;
    for (const SpecConstant& s : desc_.spec) {
      entries.push_back({s.id, uint32_t(values.size() * 4), 4});
      values.push_back(s.value);
    }
    VkSpecializationInfo spec{uint32_t(entries.size()), entries.data(), values.size() * 4, values.data()};

    auto subgroup = make<VkPipelineShaderStageRequiredSubgroupSizeCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO);
    subgroup.requiredSubgroupSize = desc_.required_subgroup_size;
    auto pci = make<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
    pci.stage = make<VkPipelineShaderStageCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO);
    pci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pci.stage.module = module_;
    pci.stage.pName = "main";
    pci.stage.pSpecializationInfo = entries.empty() ? nullptr : &spec;
    if (desc_.required_subgroup_size) {
      pci.stage.pNext = &subgroup;
      pci.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
    }
    pci.layout = layout_;
    if (device.caps().pipeline_statistics) pci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;

    VkPipelineCreationFeedback feedback{}, stage_feedback{};
    auto fci = make<VkPipelineCreationFeedbackCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CREATION_FEEDBACK_CREATE_INFO);
    fci.pPipelineCreationFeedback = &feedback;
    fci.pipelineStageCreationFeedbackCount = 1;
    fci.pPipelineStageCreationFeedbacks = &stage_feedback;
    if (device.caps().pipeline_creation_feedback) pci.pNext = &fci;

    check(vkCreateComputePipelines(dev, cache ? cache->handle() : VK_NULL_HANDLE, 1, &pci, nullptr, &pipeline_),
          "vkCreateComputePipelines");
    if (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_VALID_BIT)
      cache_hit_ = (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_APPLICATION_PIPELINE_CACHE_HIT_BIT) != 0;
    if (device.caps().pipeline_statistics) statistics_ = query_statistics(dev, pipeline_);
  } catch (const OutOfDeviceMemory&) {
    destroy();
    throw;
  } catch (const DeviceLost&) {
    destroy();
    throw;
  } catch (const VulkanError& e) {
    destroy();
    throw VulkanError("kernel '" + desc_.shader + "': " + e.what(), e.result());
  } catch (...) {
    destroy();
    throw;
  }
}

Kernel::~Kernel() { destroy(); }

void Kernel::destroy() noexcept {
  const VkDevice dev = device_.handle();
  if (pipeline_) vkDestroyPipeline(dev, pipeline_, nullptr);
  if (layout_) vkDestroyPipelineLayout(dev, layout_, nullptr);
  if (set_layout_) vkDestroyDescriptorSetLayout(dev, set_layout_, nullptr);
  if (module_) vkDestroyShaderModule(dev, module_, nullptr);
  pipeline_ = VK_NULL_HANDLE;
  layout_ = VK_NULL_HANDLE;
  set_layout_ = VK_NULL_HANDLE;
  module_ = VK_NULL_HANDLE;
}

}  // namespace dsv4::vk
