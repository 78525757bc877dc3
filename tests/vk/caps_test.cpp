// The capability probe against independent Vulkan queries, and the runtime switches.
#include <gtest/gtest.h>

#include <cstring>

#include "common/vk_harness.h"
#include "vk/kernel.h"

namespace dsv4::test {
namespace {

using CapsTest = VulkanTest;

TEST_F(CapsTest, ProbeAgreesWithDirectQueries) {
  const vk::Caps& c = device().probed();
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(device().physical(), &p);
  EXPECT_EQ(c.name, p.deviceName);
  EXPECT_EQ(c.vendor_id, p.vendorID);
  EXPECT_EQ(c.max_storage_buffer_range, p.limits.maxStorageBufferRange);
  EXPECT_EQ(0, std::memcmp(c.pipeline_cache_uuid.data(), p.pipelineCacheUUID, VK_UUID_SIZE));
  VkPhysicalDeviceMemoryProperties m;
  vkGetPhysicalDeviceMemoryProperties(device().physical(), &m);
  ASSERT_EQ(c.heaps.size(), m.memoryHeapCount);
  for (uint32_t i = 0; i < m.memoryHeapCount; ++i) {
    EXPECT_EQ(c.heaps[i].size, m.memoryHeaps[i].size);
    EXPECT_LE(c.heaps[i].budget, c.heaps[i].size);
  }
  EXPECT_GE(c.api_version, VK_API_VERSION_1_2);
  EXPECT_GT(c.max_memory_allocation_size, 0u);
  EXPECT_GE(c.max_buffer_size, c.max_storage_buffer_range);
  EXPECT_GT(c.subgroup_size, 0u);
  EXPECT_LE(c.min_subgroup_size, c.subgroup_size);
  EXPECT_GE(c.max_subgroup_size, c.subgroup_size);
  EXPECT_NE(std::find(c.subgroup_operations.begin(), c.subgroup_operations.end(), "basic"),
            c.subgroup_operations.end());
  EXPECT_TRUE(c.timeline_semaphore);
  // Cooperative-matrix shapes exist exactly when the feature does.
  EXPECT_EQ(c.coopmat_khr, !c.coopmat_khr_shapes.empty());
  EXPECT_EQ(c.coopmat_nv, !c.coopmat_nv_shapes.empty());
  EXPECT_EQ(c.has_extension(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME), c.memory_budget);
}

TEST_F(CapsTest, OptionsSwitchFastPathsOff) {
  vk::DeviceOptions off;
  off.fp16 = off.int8 = off.coopmat_khr = off.coopmat_nv = off.coopmat2_nv = off.integer_dot_product = false;
  off.subgroup_size_control = off.timestamps = off.storage_8bit_16bit = false;
  const vk::Caps c = vk::effective_caps(device().probed(), off);
  EXPECT_FALSE(c.fp16);
  EXPECT_FALSE(c.int8);
  EXPECT_FALSE(c.coopmat_khr);
  EXPECT_TRUE(c.coopmat_khr_shapes.empty());
  EXPECT_FALSE(c.integer_dot_product);
  EXPECT_FALSE(c.storage_8bit);
  EXPECT_EQ(c.timestamp_valid_bits, 0u);
  // Switching off never turns anything on.
  const vk::Caps on = vk::effective_caps(device().probed(), vk::DeviceOptions{});
  EXPECT_EQ(on.fp16, device().probed().fp16);
  EXPECT_EQ(on.coopmat_khr, device().probed().coopmat_khr);
}

TEST_F(CapsTest, ADeviceWithFastPathsOffStillRuns) {
  vk::DeviceOptions off;
  off.fp16 = off.int8 = off.storage_8bit_16bit = off.subgroup_size_control = off.integer_dot_product = false;
  off.memory_budget = false;
  const auto& all = vulkan_instance().devices();
  std::vector<vk::Caps> caps;
  for (const auto& d : all) caps.push_back(d.caps);
  const size_t i = vk::select_device(caps, vk::device_selector(""));
  vk::Device dev(vulkan_instance(), all[i], off);
  EXPECT_FALSE(dev.caps().fp16);
  EXPECT_FALSE(dev.caps().memory_budget);
  EXPECT_EQ(dev.caps().heaps.size(), device().caps().heaps.size());
}

// Kernel statistics only on request: the default device captures none; one opened with
// pipeline_statistics reports them for every kernel where the driver supports the extension
// (NVIDIA: registers among them), and still none where it does not (lavapipe).
TEST_F(CapsTest, KernelStatisticsOnRequestWhereTheDriverHasThem) {
  EXPECT_FALSE(device().caps().pipeline_statistics);
  vk::Kernel plain(device(), {"test/affine_u32", 2, 12, {}, 0});
  EXPECT_TRUE(plain.statistics().empty());

  vk::DeviceOptions on;
  on.pipeline_statistics = true;
  const auto& all = vulkan_instance().devices();
  std::vector<vk::Caps> caps;
  for (const auto& d : all) caps.push_back(d.caps);
  vk::Device dev(vulkan_instance(), all[vk::select_device(caps, vk::device_selector(""))], on);
  EXPECT_EQ(dev.caps().pipeline_statistics, device().probed().pipeline_statistics);
  vk::Kernel k(dev, {"test/affine_u32", 2, 12, {}, 0});
  RecordProperty("statistics", std::to_string(k.statistics().size()));
  if (!dev.caps().pipeline_statistics) {
    EXPECT_TRUE(k.statistics().empty());
    return;
  }
  ASSERT_FALSE(k.statistics().empty());
  for (const vk::KernelStatistic& s : k.statistics()) {
    EXPECT_FALSE(s.name.empty());
    EXPECT_FALSE(s.value.empty());
    EXPECT_NE(s.value, "?") << s.name;
  }
}

}  // namespace
}  // namespace dsv4::test
