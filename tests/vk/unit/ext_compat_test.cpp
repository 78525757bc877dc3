// Which validation messages count as "the layer does not know this newer extension".
#include <gtest/gtest.h>

#include "vk/ext_compat.h"

namespace dsv4::vk {
namespace {

TEST(ExtCompat, OnlyUnknownStructuresOfCompatExtensionsAreRecognised) {
  EXPECT_FALSE(is_compat_extension_message("Validation Error: [ VUID-vkCmdDispatch-None-02697 ] ..."));
  EXPECT_FALSE(is_compat_extension_message(
      "vkCreateDevice: pCreateInfo->pNext chain includes a structure with unknown VkStructureType (1000999000)"));
#ifdef DSV4_COMPAT_KHR_COOPERATIVE_MATRIX
  // Built against headers older than VK_KHR_cooperative_matrix (Debian 12: 1.3.239).
  EXPECT_TRUE(is_compat_extension_message(
      "Validation Error: [ VUID-VkDeviceCreateInfo-pNext-pNext ] vkCreateDevice: pCreateInfo->pNext chain includes "
      "a structure with unknown VkStructureType (1000506000); Allowed structures are [...]"));
  // The same layer's warning on NVIDIA when the extension is enabled (seen on an H100).
  EXPECT_TRUE(is_compat_extension_message(
      "Validation Warning: [ VUID_Undefined ] Object 0: handle = 0x5607, type = VK_OBJECT_TYPE_DEVICE; | "
      "MessageID = 0x79de34d4 | Device Extension VK_KHR_cooperative_matrix is not supported by this layer.  "
      "Using this extension may adversely affect validation results and/or produce undefined behavior."));
  EXPECT_FALSE(is_compat_extension_message(
      "Device Extension VK_KHR_fancy_future_thing is not supported by this layer."));
  ASSERT_FALSE(compat_extensions().empty());
  EXPECT_STREQ(compat_extensions()[0].name, "VK_KHR_cooperative_matrix");
#endif
}

}  // namespace
}  // namespace dsv4::vk
