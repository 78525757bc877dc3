// Device selection without a GPU: fake device lists.
#include <gtest/gtest.h>

#include <cstdlib>

#include "vk/device_select.h"
#include "vk/error.h"

namespace dsv4::vk {
namespace {

Caps fake(uint32_t index, std::string name, VkPhysicalDeviceType type, bool usable = true) {
  Caps c;
  c.index = index;
  c.name = std::move(name);
  c.vk_type = type;
  c.type = type == VK_PHYSICAL_DEVICE_TYPE_CPU ? "cpu" : type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ? "discrete" : "integrated";
  c.api_version = usable ? VK_API_VERSION_1_3 : VK_API_VERSION_1_1;
  c.compute_queue_family = 0;
  c.timeline_semaphore = true;
  return c;
}

const std::vector<Caps> kDevices = {
    fake(0, "llvmpipe (LLVM 15.0.6, 256 bits)", VK_PHYSICAL_DEVICE_TYPE_CPU),
    fake(1, "Intel(R) UHD Graphics 620", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU),
    fake(2, "NVIDIA H100 80GB HBM3", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU),
    fake(3, "Old GPU", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, false),
};

TEST(DeviceSelect, DefaultPrefersDiscreteThenIntegratedThenCpu) {
  EXPECT_EQ(select_device(kDevices, ""), 2u);
  const std::vector<Caps> no_discrete = {kDevices[0], kDevices[1]};
  EXPECT_EQ(select_device(no_discrete, ""), 1u);
  const std::vector<Caps> cpu_only = {kDevices[0]};
  EXPECT_EQ(select_device(cpu_only, ""), 0u);
}

TEST(DeviceSelect, DefaultSkipsUnusableDevices) {
  const std::vector<Caps> devices = {kDevices[3], kDevices[0]};
  EXPECT_EQ(select_device(devices, ""), 1u);
}

TEST(DeviceSelect, ByIndex) {
  EXPECT_EQ(select_device(kDevices, "0"), 0u);
  EXPECT_EQ(select_device(kDevices, "1"), 1u);
  EXPECT_EQ(select_device(kDevices, "2"), 2u);
}

TEST(DeviceSelect, ByCaseInsensitiveNameSubstring) {
  EXPECT_EQ(select_device(kDevices, "h100"), 2u);
  EXPECT_EQ(select_device(kDevices, "LLVMPIPE"), 0u);
  EXPECT_EQ(select_device(kDevices, "uhd graphics"), 1u);
}

TEST(DeviceSelect, NoMatchListsAvailableDevices) {
  try {
    select_device(kDevices, "radeon");
    FAIL() << "expected vk::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("radeon"), std::string::npos) << what;
    EXPECT_NE(what.find("0: llvmpipe"), std::string::npos) << what;
    EXPECT_NE(what.find("2: NVIDIA H100 80GB HBM3 (discrete)"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line";
  }
  EXPECT_THROW(select_device(kDevices, "7"), Error);
  EXPECT_THROW(select_device(kDevices, "99999999999999"), Error);  // not an index: a name that matches nothing
}

TEST(DeviceSelect, UnusableDeviceIsRefusedWithReason) {
  try {
    select_device(kDevices, "3");
    FAIL() << "expected vk::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1.1.0 < 1.2"), std::string::npos) << e.what();
  }
}

TEST(DeviceSelect, EmptyListIsAClearError) {
  EXPECT_THROW(select_device(std::vector<Caps>{}, ""), Error);
}

TEST(DeviceSelect, CommandLineWinsOverEnvironment) {
  ::setenv("DSV4_DEVICE", "nvidia", 1);
  EXPECT_EQ(device_selector(""), "nvidia");
  EXPECT_EQ(device_selector("1"), "1");
  ::unsetenv("DSV4_DEVICE");
  EXPECT_EQ(device_selector(""), "");
}

}  // namespace
}  // namespace dsv4::vk
