// The Vulkan instance: loader, optional Khronos validation (with synchronization validation) and a
// debug-utils messenger that forwards driver/layer messages to a callback.
#pragma once
#include <vulkan/vulkan.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vk/caps.h"

namespace dsv4::vk {

enum class Severity { Verbose, Info, Warning, Error };

struct InstanceOptions {
  bool validation = false;       // VK_LAYER_KHRONOS_validation; throws if the layer is missing
  bool sync_validation = false;  // + synchronization validation (needs validation)
  // Receives every message of the messenger (validation, loader, driver); called from any thread.
  std::function<void(Severity, const std::string&)> on_message;
};

struct PhysicalDevice {
  VkPhysicalDevice handle = VK_NULL_HANDLE;
  Caps caps;
};

class Instance {
 public:
  explicit Instance(InstanceOptions options = {});
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  uint32_t api_version() const { return api_version_; }
  // Every physical device, in vkEnumeratePhysicalDevices order, with its probed capabilities.
  const std::vector<PhysicalDevice>& devices() const { return devices_; }

  static bool layer_available(const char* layer);
  // The layer's specVersion (the Vulkan headers it was built from); 0 when it is not installed.
  static uint32_t layer_spec_version(const char* layer);

 private:
  struct Messenger;
  void destroy() noexcept;
  VkInstance instance_ = VK_NULL_HANDLE;
  uint32_t api_version_ = 0;
  std::unique_ptr<Messenger> messenger_;
  std::vector<PhysicalDevice> devices_;
};

}  // namespace dsv4::vk
