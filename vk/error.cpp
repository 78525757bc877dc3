#include "vk/error.h"

namespace dsv4::vk {

std::string result_name(VkResult result) {
  switch (result) {
#define DSV4_RESULT(name) \
  case name:              \
    return #name;
    DSV4_RESULT(VK_SUCCESS)
    DSV4_RESULT(VK_NOT_READY)
    DSV4_RESULT(VK_TIMEOUT)
    DSV4_RESULT(VK_EVENT_SET)
    DSV4_RESULT(VK_EVENT_RESET)
    DSV4_RESULT(VK_INCOMPLETE)
    DSV4_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
    DSV4_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    DSV4_RESULT(VK_ERROR_INITIALIZATION_FAILED)
    DSV4_RESULT(VK_ERROR_DEVICE_LOST)
    DSV4_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
    DSV4_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
    DSV4_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
    DSV4_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
    DSV4_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
    DSV4_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
    DSV4_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
    DSV4_RESULT(VK_ERROR_FRAGMENTED_POOL)
    DSV4_RESULT(VK_ERROR_UNKNOWN)
    DSV4_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
    DSV4_RESULT(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    DSV4_RESULT(VK_ERROR_FRAGMENTATION)
    DSV4_RESULT(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    DSV4_RESULT(VK_PIPELINE_COMPILE_REQUIRED)
#undef DSV4_RESULT
    default:
      return "VkResult(" + std::to_string(int(result)) + ")";
  }
}

void check(VkResult result, const char* call) {
  if (result >= 0) return;  // VK_SUCCESS and the non-error status codes
  const std::string what = std::string(call) + " failed: " + result_name(result);
  switch (result) {
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      throw OutOfDeviceMemory(what + " (the device is out of memory)");
    case VK_ERROR_DEVICE_LOST:
      throw DeviceLost(what + " (the GPU was lost: driver reset, hang or removal)");
    default:
      throw VulkanError(what, result);
  }
}

}  // namespace dsv4::vk
