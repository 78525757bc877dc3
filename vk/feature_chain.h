// The feature structures dsv4 probes and enables, each with its sType set, and a pNext chain
// builder. Shared by the capability probe (caps.cpp) and device creation (device.cpp) so the two
// always agree on which structures exist; each decides which ones to link.
#pragma once
#include <vulkan/vulkan.h>

#include "vk/ext_compat.h"
#include "vk/make.h"

namespace dsv4::vk {

struct FeatureChain {
  VkPhysicalDeviceFeatures2 root = make<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  VkPhysicalDeviceVulkan11Features v11 =
      make<VkPhysicalDeviceVulkan11Features>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES);
  VkPhysicalDeviceVulkan12Features v12 =
      make<VkPhysicalDeviceVulkan12Features>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
  VkPhysicalDeviceVulkan13Features v13 =
      make<VkPhysicalDeviceVulkan13Features>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES);
  VkPhysicalDeviceSubgroupSizeControlFeatures subgroup_size = make<VkPhysicalDeviceSubgroupSizeControlFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES);
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot = make<VkPhysicalDeviceShaderIntegerDotProductFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES);
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat_khr = make<VkPhysicalDeviceCooperativeMatrixFeaturesKHR>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR);
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coopmat_nv = make<VkPhysicalDeviceCooperativeMatrixFeaturesNV>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV);
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV coopmat2_nv = make<VkPhysicalDeviceCooperativeMatrix2FeaturesNV>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV);
  VkPhysicalDeviceShaderBfloat16FeaturesKHR bf16 = make<VkPhysicalDeviceShaderBfloat16FeaturesKHR>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR);
  VkPhysicalDeviceShaderFloat8FeaturesEXT float8 = make<VkPhysicalDeviceShaderFloat8FeaturesEXT>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT8_FEATURES_EXT);
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable_info =
      make<VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR>(
          VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR);

  FeatureChain() = default;
  FeatureChain(const FeatureChain&) = delete;  // the chain points into this object
  FeatureChain& operator=(const FeatureChain&) = delete;

  // Appends `s` (one of the members above) to root's pNext chain.
  template <typename S>
  void link(S& s) {
    *tail_ = &s;
    tail_ = &s.pNext;
  }

 private:
  void** tail_ = &root.pNext;
};

}  // namespace dsv4::vk
