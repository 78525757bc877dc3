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
    // The same from a 1.4.x layer that predates the extension (1.4.309 and VK_KHR_shader_bfloat16).
    if (message.find(std::string(" ") + e.name + " is not a known extension string") != std::string::npos) return true;
  }
  return false;
}

namespace {

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

// "VkShaderModule 0x1ae00000001ae" at the start of the layer's text about a module; empty if none.
std::string module_named(const std::string& message) {
  const size_t at = message.find("VkShaderModule 0x");
  if (at == std::string::npos) return {};
  const size_t end = message.find_first_not_of("0123456789abcdefABCDEFx", at + 15);
  return message.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

bool OldLayerKhrCoopmatMessages::matches(const std::string& message) {
  // The capability CooperativeMatrixKHR is 6022; its extension's name is exact.
  if (contains(message, "Invalid capability operand: 6022")) {
    const std::string module = module_named(message);
    if (!module.empty()) modules_.push_back(module);
    return true;
  }
  if (contains(message, "A SPIR-V Extension (SPV_KHR_cooperative_matrix) was declared that is not supported")) return true;
  // The layer cannot name a capability newer than itself; in dsv4's modules that is only 6022.
  if (contains(message, "A SPIR-V Capability (Unhandled OpCapability) was declared that is not supported")) return true;
  if (contains(message, "attempted to apply specialization constants with spirv-opt but failed")) {
    const std::string module = module_named(message);
    for (const std::string& m : modules_)
      if (m == module) return true;
  }
  return false;
}

}  // namespace dsv4::vk
