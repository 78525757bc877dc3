#include "common/vk_harness.h"

#include <dlfcn.h>

#include <memory>
#include <mutex>
#include <optional>

#include "vk/ext_compat.h"

namespace dsv4::test {

namespace {

struct State {
  std::mutex mutex;
  std::vector<std::string> messages;
  std::unique_ptr<vk::Instance> instance;  // destroyed after the device (declaration order)
  std::unique_ptr<vk::Device> device;
  std::optional<vk::OldLayerKhrCoopmatMessages> old_layer;  // set when the layer predates KHR coopmats
};

State& state() {
  static State* s = new State;  // never destroyed: the environment tears down the Vulkan objects
  return *s;
}

void collect(vk::Severity severity, const std::string& message) {
  if (severity < vk::Severity::Warning) return;
  // The Debian layer (1.3.239) predates extensions dsv4 declares itself (vk/ext_compat.h) and
  // reports their structures as unknown when a device that has them (NVIDIA) enables them.
  if (vk::is_compat_extension_message(message)) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  // Such a layer cannot validate the KHR cooperative-matrix kernels (vk/ext_compat.h); spirv-val
  // >= 2023.6 and layers >= 1.3.255 do, as in bench/README.md's device runs.
  if (s.old_layer && s.old_layer->matches(message)) return;
  s.messages.push_back((severity == vk::Severity::Error ? "error: " : "warning: ") + message);
}

constexpr const char* kLayer = "VK_LAYER_KHRONOS_validation";

// The loader unloads the layer and the driver when the instance is destroyed, before the leak
// check at exit; LeakSanitizer then cannot name their modules and tests/lsan.supp (which
// suppresses leaks inside them) does not match. Holding an extra reference keeps them mapped.
void pin_loaded_vulkan_libraries() {
  for (const char* lib : {"libVkLayer_khronos_validation.so", "libvulkan_lvp.so"})
    (void)::dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);  // no-op when not loaded; never closed
}

// Destroys device and instance after the last test, so messages about leaked or misused objects
// at teardown fail the run too.
class VulkanEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    State& s = state();
    s.device.reset();
    s.instance.reset();
    for (const std::string& m : take_validation_messages()) ADD_FAILURE() << "Vulkan validation at teardown: " << m;
  }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new VulkanEnvironment);

}  // namespace

std::vector<std::string> take_validation_messages() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return std::exchange(s.messages, {});
}

vk::Instance& vulkan_instance() {
  State& s = state();
  if (!s.instance) {
    if (!vk::Instance::layer_available(kLayer))
      throw std::runtime_error(std::string(kLayer) +
                               " is not installed: Vulkan tests run only with validation on "
                               "(Debian: apt install vulkan-validationlayers)");
    if (vk::Instance::layer_spec_version(kLayer) < vk::kFirstLayerWithKhrCoopmat) s.old_layer.emplace();
    vk::InstanceOptions o;
    o.validation = true;
    o.sync_validation = true;
    o.on_message = collect;
    s.instance = std::make_unique<vk::Instance>(o);
    pin_loaded_vulkan_libraries();
  }
  return *s.instance;
}

vk::Device& vulkan_device() {
  State& s = state();
  if (!s.device) s.device = vk::Device::open(vulkan_instance(), vk::device_selector(""));
  return *s.device;
}

void VulkanTest::SetUp() {
  try {
    device_ = &vulkan_device();
  } catch (const std::exception& e) {
    FAIL() << "cannot set up the validated Vulkan device: " << e.what();
  }
}

void VulkanTest::TearDown() {
  staging_.reset();
  for (const std::string& m : take_validation_messages()) ADD_FAILURE() << "Vulkan validation: " << m;
}

vk::StagingRing& VulkanTest::staging() {
  if (!staging_) staging_ = std::make_unique<vk::StagingRing>(device(), 4u << 20);
  return *staging_;
}

}  // namespace dsv4::test
