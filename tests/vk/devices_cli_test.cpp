// `dsv4 devices` and `dsv4 devices --json` against direct Vulkan queries.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "common/vk_harness.h"

namespace dsv4::test {
namespace {

struct Result {
  int status;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(DSV4_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

using DevicesCliTest = VulkanTest;

TEST_F(DevicesCliTest, JsonListsEveryDeviceWithItsLimits) {
  const Result r = run("devices --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  uint32_t count = 0;
  ASSERT_EQ(vkEnumeratePhysicalDevices(vulkan_instance().handle(), &count, nullptr), VK_SUCCESS);
  std::vector<VkPhysicalDevice> phys(count);
  vkEnumeratePhysicalDevices(vulkan_instance().handle(), &count, phys.data());
  ASSERT_EQ(j.at("devices").size(), count);
  int defaults = 0;
  for (uint32_t i = 0; i < count; ++i) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(phys[i], &p);
    const auto& d = j["devices"][i];
    EXPECT_EQ(d.at("index"), i);
    EXPECT_EQ(d.at("name"), std::string(p.deviceName));
    EXPECT_EQ(d.at("limits").at("max_storage_buffer_range"), p.limits.maxStorageBufferRange);
    EXPECT_EQ(d.at("limits").at("max_push_constants_size"), p.limits.maxPushConstantsSize);
    EXPECT_TRUE(d.at("subgroup").at("operations").is_array());
    EXPECT_TRUE(d.at("cooperative_matrix").at("khr_shapes").is_array());
    EXPECT_TRUE(d.at("memory").at("heaps").is_array());
    EXPECT_FALSE(d.at("memory").at("heaps").empty());
    defaults += d.at("default").get<bool>() ? 1 : 0;
    if (d.at("default").get<bool>()) {
      EXPECT_EQ(d.at("name"), device().caps().name);
    }
  }
  EXPECT_EQ(defaults, 1);
}

TEST_F(DevicesCliTest, HumanReadableNamesTheDefaultDevice) {
  const Result r = run("devices");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("* " + std::to_string(device().caps().index) + ": " + device().caps().name), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("storage-buffer range"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cooperative matrix KHR"), std::string::npos) << r.out;
}

TEST_F(DevicesCliTest, DeviceSelectorMarksOrFailsWithTheList) {
  const Result by_index = run("devices --json --device " + std::to_string(device().caps().index));
  ASSERT_EQ(by_index.status, 0) << by_index.out;
  const auto j = nlohmann::json::parse(by_index.out);
  EXPECT_TRUE(j["devices"][device().caps().index]["default"].get<bool>());

  const Result none = run("devices --device no-such-gpu-xyz");
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.out.find("dsv4: error: no Vulkan device matches 'no-such-gpu-xyz'; available: "), std::string::npos)
      << none.out;
  EXPECT_NE(none.out.find(device().caps().name), std::string::npos) << none.out;
}

}  // namespace
}  // namespace dsv4::test
