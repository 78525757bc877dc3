#include "vk/caps.h"

#include <algorithm>
#include <cstring>

#include "vk/error.h"
#include "vk/feature_chain.h"
#include "vk/make.h"
#include "vk/ext_compat.h"

namespace dsv4::vk {

namespace {

std::string type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

std::string component_name(uint32_t c) {
  switch (c) {
    case 0: return "float16";
    case 1: return "float32";
    case 2: return "float64";
    case 3: return "sint8";
    case 4: return "sint16";
    case 5: return "sint32";
    case 6: return "sint64";
    case 7: return "uint8";
    case 8: return "uint16";
    case 9: return "uint32";
    case 10: return "uint64";
    case 1000141000: return "bfloat16";
    case 1000491000: return "sint8_packed";
    case 1000491001: return "uint8_packed";
    case 1000491002: return "float8_e4m3";
    case 1000491003: return "float8_e5m2";
    default: return "component(" + std::to_string(c) + ")";
  }
}

std::string scope_name(uint32_t s) {
  switch (s) {
    case 1: return "device";
    case 2: return "workgroup";
    case 3: return "subgroup";
    case 5: return "queue_family";
    default: return "scope(" + std::to_string(s) + ")";
  }
}

std::vector<std::string> subgroup_op_names(VkSubgroupFeatureFlags f) {
  static const std::pair<VkSubgroupFeatureFlagBits, const char*> kOps[] = {
      {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"},
      {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
      {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arithmetic"},
      {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle_relative"},
      {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"},
      {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"},
  };
  std::vector<std::string> out;
  for (auto [bit, name] : kOps)
    if (f & bit) out.emplace_back(name);
  return out;
}

std::vector<std::string> device_extensions(VkPhysicalDevice physical) {
  uint32_t n = 0;
  check(vkEnumerateDeviceExtensionProperties(physical, nullptr, &n, nullptr),
        "vkEnumerateDeviceExtensionProperties");
  std::vector<VkExtensionProperties> props(n);
  check(vkEnumerateDeviceExtensionProperties(physical, nullptr, &n, props.data()),
        "vkEnumerateDeviceExtensionProperties");
  std::vector<std::string> out;
  for (uint32_t i = 0; i < n; ++i) out.emplace_back(props[i].extensionName);
  std::sort(out.begin(), out.end());
  return out;
}

// Calls a two-call Vulkan enumeration (count, then fill) for a struct type with sType.
template <typename T, typename Fn>
std::vector<T> enumerate_with_stype(Fn fn, VkStructureType stype, const char* call) {
  uint32_t n = 0;
  check(fn(&n, nullptr), call);
  std::vector<T> out(n);
  for (auto& p : out) {
    std::memset(&p, 0, sizeof(T));
    p.sType = stype;
  }
  check(fn(&n, out.data()), call);
  out.resize(n);
  return out;
}

void probe_coopmat_shapes(VkInstance instance, VkPhysicalDevice physical, Caps& caps) {
  if (caps.coopmat_khr) {
    auto fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
    if (fn) {
      auto props = enumerate_with_stype<VkCooperativeMatrixPropertiesKHR>(
          [&](uint32_t* n, VkCooperativeMatrixPropertiesKHR* p) { return fn(physical, n, p); },
          VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR,
          "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
      for (const auto& p : props)
        caps.coopmat_khr_shapes.push_back(
            {p.MSize, p.NSize, p.KSize, component_name(p.AType), component_name(p.BType),
             component_name(p.CType), component_name(p.ResultType),
             p.saturatingAccumulation == VK_TRUE, scope_name(p.scope), 0});
    }
  }
  if (caps.coopmat_nv) {
    auto fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
    if (fn) {
      auto props = enumerate_with_stype<VkCooperativeMatrixPropertiesNV>(
          [&](uint32_t* n, VkCooperativeMatrixPropertiesNV* p) { return fn(physical, n, p); },
          VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV,
          "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
      for (const auto& p : props)
        caps.coopmat_nv_shapes.push_back(
            {p.MSize, p.NSize, p.KSize, component_name(p.AType), component_name(p.BType),
             component_name(p.CType), component_name(p.DType), false, scope_name(p.scope), 0});
    }
  }
  if (caps.coopmat2_nv) {
    auto fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV>(
        vkGetInstanceProcAddr(instance,
                              "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV"));
    if (fn) {
      auto props = enumerate_with_stype<VkCooperativeMatrixFlexibleDimensionsPropertiesNV>(
          [&](uint32_t* n, VkCooperativeMatrixFlexibleDimensionsPropertiesNV* p) {
            return fn(physical, n, p);
          },
          VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_FLEXIBLE_DIMENSIONS_PROPERTIES_NV,
          "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV");
      for (const auto& p : props)
        caps.coopmat2_nv_shapes.push_back(
            {p.MGranularity, p.NGranularity, p.KGranularity, component_name(p.AType),
             component_name(p.BType), component_name(p.CType), component_name(p.ResultType),
             p.saturatingAccumulation == VK_TRUE, scope_name(p.scope), p.workgroupInvocations});
    }
  }
}

// Features of Vulkan 1.1/1.2/1.3 and of the extensions the device lists (a struct of an
// extension the device lacks must not be chained).
void probe_features(VkPhysicalDevice physical, Caps& caps) {
  FeatureChain fc;
  const bool v13 = caps.api_version >= VK_API_VERSION_1_3;

  fc.link(fc.v11);
  fc.link(fc.v12);
  if (v13) fc.link(fc.v13);
  if (!v13 && caps.has_extension(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)) fc.link(fc.subgroup_size);
  if (!v13 && caps.has_extension(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)) fc.link(fc.dot);
  if (caps.has_extension(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME)) fc.link(fc.coopmat_khr);
  if (caps.has_extension(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) fc.link(fc.coopmat_nv);
  if (caps.has_extension(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME)) fc.link(fc.coopmat2_nv);
  if (caps.has_extension(VK_KHR_SHADER_BFLOAT16_EXTENSION_NAME)) fc.link(fc.bf16);
  if (caps.has_extension(VK_EXT_SHADER_FLOAT8_EXTENSION_NAME)) fc.link(fc.float8);
  if (caps.has_extension(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) fc.link(fc.executable_info);
  vkGetPhysicalDeviceFeatures2(physical, &fc.root);

  caps.int16 = fc.root.features.shaderInt16;
  caps.int64 = fc.root.features.shaderInt64;
  caps.fp16 = fc.v12.shaderFloat16;
  caps.int8 = fc.v12.shaderInt8;
  caps.storage_8bit = fc.v12.storageBuffer8BitAccess;
  caps.storage_16bit = fc.v11.storageBuffer16BitAccess;
  caps.push_constant_8bit = fc.v12.storagePushConstant8;
  caps.push_constant_16bit = fc.v11.storagePushConstant16;
  caps.timeline_semaphore = fc.v12.timelineSemaphore;
  caps.buffer_device_address = fc.v12.bufferDeviceAddress;
  caps.subgroup_size_control = v13 ? fc.v13.subgroupSizeControl && fc.v13.computeFullSubgroups
                                   : fc.subgroup_size.subgroupSizeControl && fc.subgroup_size.computeFullSubgroups;
  caps.integer_dot_product = v13 ? fc.v13.shaderIntegerDotProduct : fc.dot.shaderIntegerDotProduct;
  caps.coopmat_khr = fc.coopmat_khr.cooperativeMatrix;
  caps.coopmat_nv = fc.coopmat_nv.cooperativeMatrix;
  caps.coopmat2_nv = fc.coopmat2_nv.cooperativeMatrixWorkgroupScope || fc.coopmat2_nv.cooperativeMatrixFlexibleDimensions;
  caps.bf16 = fc.bf16.shaderBFloat16Type;
  caps.float8 = fc.float8.shaderFloat8;
  caps.pipeline_creation_feedback =
      v13 || caps.has_extension(VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME);
  caps.memory_budget = caps.has_extension(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  caps.pipeline_statistics = fc.executable_info.pipelineExecutableInfo;
}

void probe_properties(VkPhysicalDevice physical, Caps& caps) {
  const bool v13 = caps.api_version >= VK_API_VERSION_1_3;
  auto p2 = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  auto p11 = make<VkPhysicalDeviceVulkan11Properties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES);
  auto p12 = make<VkPhysicalDeviceVulkan12Properties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES);
  auto p13 = make<VkPhysicalDeviceVulkan13Properties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_PROPERTIES);
  auto psc = make<VkPhysicalDeviceSubgroupSizeControlProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES);
  auto pdot = make<VkPhysicalDeviceShaderIntegerDotProductProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES);
  auto pm4 = make<VkPhysicalDeviceMaintenance4Properties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES);
  void** tail = &p2.pNext;
  auto chain = [&tail](auto& s) {
    *tail = &s;
    tail = &s.pNext;
  };
  chain(p11);
  chain(p12);
  if (v13) chain(p13);
  if (!v13 && caps.has_extension(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)) chain(psc);
  if (!v13 && caps.has_extension(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)) chain(pdot);
  if (!v13 && caps.has_extension(VK_KHR_MAINTENANCE_4_EXTENSION_NAME)) chain(pm4);
  vkGetPhysicalDeviceProperties2(physical, &p2);

  const VkPhysicalDeviceLimits& l = p2.properties.limits;
  caps.driver_name = p12.driverName;
  caps.driver_info = p12.driverInfo;
  std::copy(std::begin(p11.deviceUUID), std::end(p11.deviceUUID), caps.device_uuid.begin());
  caps.subgroup_size = p11.subgroupSize;
  caps.subgroup_operations = subgroup_op_names(p11.subgroupSupportedOperations);
  caps.min_subgroup_size = v13 ? p13.minSubgroupSize : psc.minSubgroupSize;
  caps.max_subgroup_size = v13 ? p13.maxSubgroupSize : psc.maxSubgroupSize;
  if (caps.min_subgroup_size == 0) caps.min_subgroup_size = caps.max_subgroup_size = p11.subgroupSize;
  caps.integer_dot_4x8_packed_accelerated =
      v13 ? p13.integerDotProduct4x8BitPackedSignedAccelerated
          : pdot.integerDotProduct4x8BitPackedSignedAccelerated;
  caps.denorm_preserve_fp32 = p12.shaderDenormPreserveFloat32;
  caps.denorm_flush_fp32 = p12.shaderDenormFlushToZeroFloat32;
  caps.denorm_preserve_fp16 = p12.shaderDenormPreserveFloat16;
  caps.max_storage_buffer_range = l.maxStorageBufferRange;
  caps.max_memory_allocation_size = p11.maxMemoryAllocationSize;
  caps.max_buffer_size = v13 ? p13.maxBufferSize : pm4.maxBufferSize;
  if (caps.max_buffer_size == 0) caps.max_buffer_size = caps.max_memory_allocation_size;
  caps.min_storage_buffer_offset_alignment = l.minStorageBufferOffsetAlignment;
  caps.max_push_constants_size = l.maxPushConstantsSize;
  caps.max_compute_shared_memory = l.maxComputeSharedMemorySize;
  caps.max_workgroup_invocations = l.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) {
    caps.max_workgroup_size[i] = l.maxComputeWorkGroupSize[i];
    caps.max_workgroup_count[i] = l.maxComputeWorkGroupCount[i];
  }
  caps.timestamp_period_ns = l.timestampPeriod;
}

void probe_queues(VkPhysicalDevice physical, Caps& caps) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &n, families.data());
  // Prefer a compute queue without graphics (async compute on discrete GPUs), else any compute.
  for (int pass = 0; pass < 2 && caps.compute_queue_family == UINT32_MAX; ++pass)
    for (uint32_t i = 0; i < n; ++i) {
      const VkQueueFlags f = families[i].queueFlags;
      if (!(f & VK_QUEUE_COMPUTE_BIT) || (pass == 0 && (f & VK_QUEUE_GRAPHICS_BIT))) continue;
      caps.compute_queue_family = i;
      caps.timestamp_valid_bits = families[i].timestampValidBits;
      break;
    }
}

}  // namespace

bool Caps::has_extension(const char* ext) const {
  return std::binary_search(extensions.begin(), extensions.end(), std::string(ext));
}

bool Caps::has_subgroup_operation(const char* name) const {
  return std::find(subgroup_operations.begin(), subgroup_operations.end(), name) != subgroup_operations.end();
}

std::string Caps::why_unusable() const {
  if (api_version < VK_API_VERSION_1_2)
    return "Vulkan " + version_string(api_version) + " < 1.2";
  if (compute_queue_family == UINT32_MAX) return "no compute queue";
  if (!timeline_semaphore) return "no timeline semaphores";
  return "";
}
bool Caps::usable() const { return why_unusable().empty(); }

std::string version_string(uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) +
         "." + std::to_string(VK_API_VERSION_PATCH(v));
}

void refresh_memory_budget(VkPhysicalDevice physical, Caps& caps) {
  auto mp = make<VkPhysicalDeviceMemoryProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2);
  auto budget = make<VkPhysicalDeviceMemoryBudgetPropertiesEXT>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT);
  if (caps.memory_budget) mp.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(physical, &mp);
  caps.heaps.clear();
  for (uint32_t i = 0; i < mp.memoryProperties.memoryHeapCount; ++i) {
    const VkMemoryHeap& h = mp.memoryProperties.memoryHeaps[i];
    MemoryHeap heap;
    heap.size = h.size;
    heap.device_local = (h.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
    heap.budget = caps.memory_budget ? budget.heapBudget[i] : h.size;
    heap.usage = caps.memory_budget ? budget.heapUsage[i] : 0;
    caps.heaps.push_back(heap);
  }
}

Caps probe_caps(VkInstance instance, VkPhysicalDevice physical, uint32_t index) {
  Caps caps;
  caps.index = index;
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(physical, &p);
  caps.name = p.deviceName;
  caps.vk_type = p.deviceType;
  caps.type = type_name(p.deviceType);
  caps.vendor_id = p.vendorID;
  caps.device_id = p.deviceID;
  caps.api_version = p.apiVersion;
  caps.driver_version = p.driverVersion;
  std::copy(std::begin(p.pipelineCacheUUID), std::end(p.pipelineCacheUUID),
            caps.pipeline_cache_uuid.begin());
  caps.extensions = device_extensions(physical);
  probe_queues(physical, caps);
  if (caps.api_version >= VK_API_VERSION_1_2) {  // the 1.1/1.2 structs need a 1.2 device
    probe_features(physical, caps);
    probe_properties(physical, caps);
    probe_coopmat_shapes(instance, physical, caps);
  }
  refresh_memory_budget(physical, caps);
  return caps;
}

}  // namespace dsv4::vk
