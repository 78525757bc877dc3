#include "vk/instance.h"

#include <algorithm>

#include <cstring>

#include "vk/error.h"
#include "vk/make.h"

namespace dsv4::vk {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

// Whether the loader (layer == nullptr) or the given layer provides an instance extension.
bool instance_extension_available(const char* name, const char* layer = nullptr) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkExtensionProperties> props(n);
  if (vkEnumerateInstanceExtensionProperties(layer, &n, props.data()) < 0) return false;
  for (uint32_t i = 0; i < n; ++i)
    if (std::strcmp(props[i].extensionName, name) == 0) return true;
  return false;
}

Severity severity_of(VkDebugUtilsMessageSeverityFlagBitsEXT s) {
  if (s & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) return Severity::Error;
  if (s & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return Severity::Warning;
  if (s & VK_DEBUG_UTILS_MESSAGE_SEVERITY_INFO_BIT_EXT) return Severity::Info;
  return Severity::Verbose;
}

}  // namespace

// Owns the callback on the heap so the pointer handed to Vulkan stays valid.
struct Instance::Messenger {
  std::function<void(Severity, const std::string&)> sink;
  VkDebugUtilsMessengerEXT handle = VK_NULL_HANDLE;

  static VKAPI_ATTR VkBool32 VKAPI_CALL callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT,
                                                 const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                 void* user) {
    auto* self = static_cast<Messenger*>(user);
    self->sink(severity_of(severity), data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;  // never abort the call that triggered the message
  }

  VkDebugUtilsMessengerCreateInfoEXT create_info() {
    auto ci = make<VkDebugUtilsMessengerCreateInfoEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
    ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_INFO_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    ci.pfnUserCallback = &Messenger::callback;
    ci.pUserData = this;
    return ci;
  }
};

bool Instance::layer_available(const char* layer) { return layer_spec_version(layer) != 0; }

uint32_t Instance::layer_spec_version(const char* layer) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, nullptr) != VK_SUCCESS) return 0;
  std::vector<VkLayerProperties> props(n);
  if (vkEnumerateInstanceLayerProperties(&n, props.data()) < 0) return 0;
  for (const auto& p : props)
    if (std::strcmp(p.layerName, layer) == 0) return std::max<uint32_t>(p.specVersion, 1);
  return 0;
}

Instance::Instance(InstanceOptions options) {
  // Ask for the newest version both we and the loader know; devices report their own.
  uint32_t loader_version = VK_API_VERSION_1_0;
  check(vkEnumerateInstanceVersion(&loader_version), "vkEnumerateInstanceVersion");
  if (loader_version < VK_API_VERSION_1_2)
    throw Error("the Vulkan loader supports only " + version_string(loader_version) +
                "; dsv4 needs Vulkan 1.2 or newer");
  api_version_ = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;

  std::vector<const char*> layers, extensions;
  if (options.validation) {
    if (!layer_available(kValidationLayer))
      throw Error(std::string(kValidationLayer) +
                  " is not installed (Debian: apt install vulkan-validationlayers)");
    layers.push_back(kValidationLayer);
  }
  const bool debug_utils =
      options.on_message && (instance_extension_available(VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
                             (options.validation &&
                              instance_extension_available(VK_EXT_DEBUG_UTILS_EXTENSION_NAME, kValidationLayer)));
  // Validation whose messages go nowhere would let every test pass: refuse instead.
  if (options.validation && options.on_message && !debug_utils)
    throw Error("VK_EXT_debug_utils is not available: validation messages could not be collected");
  if (debug_utils) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (options.validation && options.sync_validation) {
    if (!instance_extension_available(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME, kValidationLayer))
      throw Error(std::string(kValidationLayer) + " lacks VK_EXT_validation_features (synchronization validation)");
    extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
  }

  auto app = make<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "dsv4";
  app.pEngineName = "dsv4";
  app.apiVersion = api_version_;
  auto ci = make<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = uint32_t(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = uint32_t(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();

  // Chained into the create info so messages of vkCreateInstance itself are caught too.
  VkDebugUtilsMessengerCreateInfoEXT messenger_ci{};
  if (debug_utils) {
    messenger_ = std::make_unique<Messenger>();
    messenger_->sink = options.on_message;
    messenger_ci = messenger_->create_info();
    ci.pNext = &messenger_ci;
  }
  const VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  auto features = make<VkValidationFeaturesEXT>(VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT);
  if (options.validation && options.sync_validation) {
    features.enabledValidationFeatureCount = 1;
    features.pEnabledValidationFeatures = &sync;
    features.pNext = ci.pNext;
    ci.pNext = &features;
  }
  const VkResult created = vkCreateInstance(&ci, nullptr, &instance_);
  if (created == VK_ERROR_INCOMPATIBLE_DRIVER)
    throw VulkanError("no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER); install one, "
                      "e.g. apt install mesa-vulkan-drivers, or check VK_DRIVER_FILES",
                      created);
  check(created, "vkCreateInstance");

  if (debug_utils) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (create) {
      VkResult r = create(instance_, &messenger_ci, nullptr, &messenger_->handle);
      if (r != VK_SUCCESS) {
        destroy();
        check(r, "vkCreateDebugUtilsMessengerEXT");
      }
    }
  }

  try {
    uint32_t n = 0;
    check(vkEnumeratePhysicalDevices(instance_, &n, nullptr), "vkEnumeratePhysicalDevices");
    std::vector<VkPhysicalDevice> handles(n);
    check(vkEnumeratePhysicalDevices(instance_, &n, handles.data()), "vkEnumeratePhysicalDevices");
    for (uint32_t i = 0; i < n; ++i) devices_.push_back({handles[i], probe_caps(instance_, handles[i], i)});
  } catch (...) {
    destroy();
    throw;
  }
}

Instance::~Instance() { destroy(); }

void Instance::destroy() noexcept {
  if (instance_ == VK_NULL_HANDLE) return;
  if (messenger_ && messenger_->handle != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_->handle, nullptr);
    messenger_->handle = VK_NULL_HANDLE;
  }
  vkDestroyInstance(instance_, nullptr);
  instance_ = VK_NULL_HANDLE;
}

}  // namespace dsv4::vk
