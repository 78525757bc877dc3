// VkResult -> typed exception mapping.
#include <gtest/gtest.h>

#include "vk/error.h"
#include "vk/memory.h"

namespace dsv4::vk {
namespace {

TEST(VkError, SuccessAndStatusCodesDoNotThrow) {
  EXPECT_NO_THROW(check(VK_SUCCESS, "vkX"));
  EXPECT_NO_THROW(check(VK_INCOMPLETE, "vkX"));
  EXPECT_NO_THROW(check(VK_TIMEOUT, "vkX"));  // positive status; waits handle it themselves
}

TEST(VkError, TypedErrors) {
  EXPECT_THROW(check(VK_ERROR_OUT_OF_DEVICE_MEMORY, "vkAllocateMemory"), OutOfDeviceMemory);
  EXPECT_THROW(check(VK_ERROR_DEVICE_LOST, "vkQueueSubmit"), DeviceLost);
  try {
    check(VK_ERROR_INITIALIZATION_FAILED, "vkCreateDevice");
    FAIL();
  } catch (const VulkanError& e) {
    EXPECT_EQ(e.result(), VK_ERROR_INITIALIZATION_FAILED);
    EXPECT_STREQ(e.what(), "vkCreateDevice failed: VK_ERROR_INITIALIZATION_FAILED");
  }
}

TEST(VkError, ResultNames) {
  EXPECT_EQ(result_name(VK_ERROR_DEVICE_LOST), "VK_ERROR_DEVICE_LOST");
  EXPECT_EQ(result_name(VkResult(-123456)), "VkResult(-123456)");
}

TEST(VkError, FormatBytes) {
  EXPECT_EQ(format_bytes(17), "17 B");
  EXPECT_EQ(format_bytes(2048), "2.00 KiB");
  EXPECT_EQ(format_bytes(3ull << 29), "1.50 GiB");
}

}  // namespace
}  // namespace dsv4::vk
