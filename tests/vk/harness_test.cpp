// The validation harness catches API misuse: these tests misuse Vulkan on purpose, assert that
// the messenger collected the layer's message, then clear it so the test itself passes.
#include <gtest/gtest.h>

#include "common/vk_harness.h"
#include "vk/error.h"
#include "vk/kernel.h"
#include "vk/make.h"

namespace dsv4::test {
namespace {

bool any_contains(const std::vector<std::string>& messages, const std::string& needle) {
  for (const auto& m : messages)
    if (m.find(needle) != std::string::npos) return true;
  return false;
}

using HarnessTest = VulkanTest;

TEST_F(HarnessTest, ValidationLayerIsOnAndCatchesInvalidUsage) {
  // A buffer with no usage flags violates VUID-VkBufferCreateInfo-usage-requiredbitmask.
  auto ci = vk::make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  ci.size = 256;
  ci.usage = 0;
  VkBuffer buffer = VK_NULL_HANDLE;
  const VkResult r = vkCreateBuffer(device().handle(), &ci, nullptr, &buffer);
  if (r == VK_SUCCESS) vkDestroyBuffer(device().handle(), buffer, nullptr);
  const auto messages = take_validation_messages();
  ASSERT_FALSE(messages.empty()) << "the validation layer did not report an invalid vkCreateBuffer";
  EXPECT_TRUE(any_contains(messages, "VUID-VkBufferCreateInfo-usage")) << messages.front();
}

TEST_F(HarnessTest, SynchronizationValidationCatchesAMissingBarrier) {
  // A dispatch writes a buffer and a transfer overwrites it with no barrier in between: a
  // write-after-write hazard that only synchronization validation sees (vk::Recording and
  // vk::StagingRing insert this barrier). Note: the 1.3.239 layer did not flag a hazard between two
  // dispatches in our experiments, so dispatch-to-dispatch barriers are proven by results instead
  // (recording_test.cpp).
  vk::Kernel k(device(), {"test/add_u32", 1, 4, {}, 0});
  vk::Buffer buf = vk::Buffer::create(device(), 256, vk::MemoryKind::DeviceLocal, "hazard");
  auto pci = vk::make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
  const VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
  pci.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
  pci.maxSets = 1;
  pci.poolSizeCount = 1;
  pci.pPoolSizes = &size;
  VkDescriptorPool pool;
  ASSERT_EQ(vkCreateDescriptorPool(device().handle(), &pci, nullptr, &pool), VK_SUCCESS);
  auto ai = vk::make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  const VkDescriptorSetLayout layout = k.set_layout();
  ai.descriptorPool = pool;
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set;
  ASSERT_EQ(vkAllocateDescriptorSets(device().handle(), &ai, &set), VK_SUCCESS);
  const VkDescriptorBufferInfo info{buf.handle(), 0, 256};
  auto w = vk::make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
  w.dstSet = set;
  w.descriptorCount = 1;
  w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
  w.pBufferInfo = &info;
  vkUpdateDescriptorSets(device().handle(), 1, &w, 0, nullptr);

  auto cai = vk::make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  cai.commandPool = device().command_pool();
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  VkCommandBuffer cmd;
  ASSERT_EQ(vkAllocateCommandBuffers(device().handle(), &cai, &cmd), VK_SUCCESS);
  auto bi = vk::make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  vkBeginCommandBuffer(cmd, &bi);
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline());
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout(), 0, 1, &set, 0, nullptr);
  const uint32_t one = 1;
  vkCmdPushConstants(cmd, k.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &one);
  vkCmdDispatch(cmd, 1, 1, 1);
  vkCmdFillBuffer(cmd, buf.handle(), 0, 256, 7);  // no barrier: hazard
  vkEndCommandBuffer(cmd);
  device().wait(device().submit(cmd));
  vkFreeCommandBuffers(device().handle(), device().command_pool(), 1, &cmd);
  vkFreeDescriptorSets(device().handle(), pool, 1, &set);
  vkDestroyDescriptorPool(device().handle(), pool, nullptr);

  const auto messages = take_validation_messages();
  ASSERT_FALSE(messages.empty()) << "synchronization validation did not report a missing barrier";
  EXPECT_TRUE(any_contains(messages, "SYNC-HAZARD-WRITE-AFTER-WRITE")) << messages.front();
}

}  // namespace
}  // namespace dsv4::test
