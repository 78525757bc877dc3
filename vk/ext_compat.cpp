#include "vk/ext_compat.h"

namespace dsv4::vk {

const std::vector<CompatExtension>& compat_extensions() {
  static const std::vector<CompatExtension> list = {
#ifdef DSV4_COMPAT_KHR_COOPERATIVE_MATRIX
      {VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME, {1000506000u, 1000506001u, 1000506002u}},
#endif
#ifdef DSV4_COMPAT_NV_COOPERATIVE_MATRIX_2
      {VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME, {1000593000u, 1000593001u, 1000593002u}},
#endif
#ifdef DSV4_COMPAT_KHR_SHADER_BFLOAT16
      {VK_KHR_SHADER_BFLOAT16_EXTENSION_NAME, {1000141000u}},
#endif
#ifdef DSV4_COMPAT_EXT_SHADER_FLOAT8
      {VK_EXT_SHADER_FLOAT8_EXTENSION_NAME, {1000567000u}},
#endif
  };
  return list;
}

bool is_compat_extension_message(const std::string& message) {
  for (const CompatExtension& e : compat_extensions()) {
    for (uint32_t s : e.structure_types)
      if (message.find("unknown VkStructureType (" + std::to_string(s) + ")") != std::string::npos) return true;
    // Seen on NVIDIA with the 1.3.239 layer when the extension is enabled at vkCreateDevice.
    if (message.find(std::string("Device Extension ") + e.name + " is not supported by this layer") !=
        std::string::npos)
      return true;
  }
  return false;
}

}  // namespace dsv4::vk
