// Typed errors of vk/. what() is one line saying what failed and why, ready for "dsv4: error: ".
#pragma once
#include <vulkan/vulkan.h>

#include <stdexcept>
#include <string>

namespace dsv4::vk {

// Any failure of the Vulkan layer that is not a VkResult (no matching device, bad binding, ...).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A Vulkan call returned an error: the message names the call and the VkResult.
class VulkanError : public Error {
 public:
  VulkanError(const std::string& what, VkResult result) : Error(what), result_(result) {}
  VkResult result() const { return result_; }

 private:
  VkResult result_;
};

// Allocation refused (by the driver, or by us because it exceeds a device limit or heap):
// the message says what was being allocated, how big, and the budget.
class OutOfDeviceMemory : public VulkanError {
 public:
  explicit OutOfDeviceMemory(const std::string& what)
      : VulkanError(what, VK_ERROR_OUT_OF_DEVICE_MEMORY) {}
};

// The device was lost (driver reset, hang, removal). Nothing on the device can be trusted after it.
class DeviceLost : public VulkanError {
 public:
  explicit DeviceLost(const std::string& what) : VulkanError(what, VK_ERROR_DEVICE_LOST) {}
};

// A submission did not complete within the watchdog timeout.
class Timeout : public VulkanError {
 public:
  explicit Timeout(const std::string& what) : VulkanError(what, VK_TIMEOUT) {}
};

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc.; "VkResult(<n>)" for values this build does not know.
std::string result_name(VkResult result);

// Throws the typed error for a failed call (`call` is the Vulkan function name); no-op on success.
void check(VkResult result, const char* call);

}  // namespace dsv4::vk
