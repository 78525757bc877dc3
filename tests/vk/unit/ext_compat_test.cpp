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
  // A 1.4.309 layer on an H100, about an extension newer than itself.
  EXPECT_TRUE(is_compat_extension_message(
      "vkCreateDevice(): pCreateInfo->ppEnabledExtensionNames[3] VK_KHR_cooperative_matrix is not a known extension "
      "string. Please make sure the spelling is correct."));
  EXPECT_FALSE(is_compat_extension_message(
      "vkCreateDevice(): pCreateInfo->ppEnabledExtensionNames[3] VK_KHR_fancy_future_thing is not a known extension "
      "string."));
  ASSERT_FALSE(compat_extensions().empty());
  EXPECT_STREQ(compat_extensions()[0].name, "VK_KHR_cooperative_matrix");
#endif
}

// Messages of the Debian 12 layer (1.3.239) about a _khr kernel, as an H100 run printed them.
TEST(ExtCompat, OldLayerMessagesAboutKhrCoopmatModulesAreRecognised) {
  OldLayerKhrCoopmatMessages f;
  EXPECT_TRUE(f.matches("Validation Error: [ UNASSIGNED-CoreValidation-Shader-InconsistentSpirv ] Object 0: handle = "
                        "0x5637af35f4e0, type = VK_OBJECT_TYPE_DEVICE; | MessageID = 0x6bbb14 | SPIR-V module not "
                        "valid: Invalid capability operand: 6022"));
  EXPECT_TRUE(f.matches("Validation Error: [ VUID-VkPipelineShaderStageCreateInfo-module-parameter ] ... | VkShaderModule "
                        "0x1ae00000001ae[] does not contain valid spirv for stage VK_SHADER_STAGE_COMPUTE_BIT. Invalid "
                        "capability operand: 6022 The Vulkan spec states: ..."));
  const std::string specialise =
      "Validation Error: [ VUID-VkPipelineShaderStageCreateInfo-pSpecializationInfo-06719 ] ... | VkShaderModule "
      "0x1ae00000001ae[] module (stage VK_SHADER_STAGE_COMPUTE_BIT) attempted to apply specialization constants with "
      "spirv-opt but failed. The Vulkan spec states: ...";
  EXPECT_TRUE(f.matches(specialise));
  // The same failure for a module the layer did not reject for 6022 is a real error.
  std::string other = specialise;
  other.replace(other.find("0x1ae00000001ae"), 15, "0x1e300000001e3");
  EXPECT_FALSE(f.matches(other));
  EXPECT_TRUE(f.matches("vkCreateShaderModule(): A SPIR-V Extension (SPV_KHR_cooperative_matrix) was declared that is "
                        "not supported by Vulkan."));
  EXPECT_FALSE(f.matches("vkCreateShaderModule(): A SPIR-V Extension (SPV_EXT_other) was declared that is not "
                         "supported by Vulkan."));
  EXPECT_TRUE(f.matches("vkCreateShaderModule(): A SPIR-V Capability (Unhandled OpCapability) was declared that is not "
                        "supported by Vulkan."));
  EXPECT_FALSE(f.matches("SPIR-V module not valid: Invalid capability operand: 5357"));
  EXPECT_FALSE(f.matches("Validation Error: [ VUID-vkCmdDispatch-None-02697 ] ..."));
}

}  // namespace
}  // namespace dsv4::vk
