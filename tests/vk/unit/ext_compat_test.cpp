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
  ASSERT_FALSE(compat_extensions().empty());
  EXPECT_STREQ(compat_extensions()[0].name, "VK_KHR_cooperative_matrix");
#endif
}

}  // namespace
}  // namespace dsv4::vk
