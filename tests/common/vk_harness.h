// The harness of every Vulkan test: one instance with the Khronos validation layer and
// synchronization validation on, a debug messenger that collects every message of severity
// warning or above, and a fixture that fails the test when any was collected. A missing layer
// fails the tests (never a silent skip).
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "vk/device.h"
#include "vk/device_select.h"
#include "vk/instance.h"
#include "vk/memory.h"
#include "vk/staging.h"

namespace dsv4::test {

// Messages (severity >= warning) collected since the last call; clears them.
std::vector<std::string> take_validation_messages();

// The process-wide validated instance and device (created on first use; DSV4_DEVICE selects).
vk::Instance& vulkan_instance();
vk::Device& vulkan_device();

class VulkanTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  vk::Device& device() { return *device_; }
  vk::StagingRing& staging();

  template <typename T>
  vk::Buffer upload(const std::vector<T>& data, const char* what = "test input") {
    vk::Buffer b = vk::Buffer::create(device(), data.size() * sizeof(T), vk::MemoryKind::DeviceLocal, what);
    staging().upload(b, 0, data.data(), data.size() * sizeof(T));
    return b;
  }
  template <typename T>
  std::vector<T> download(const vk::Buffer& b, size_t count, uint64_t offset = 0) {
    std::vector<T> out(count);
    staging().download(b, offset, out.data(), count * sizeof(T));
    return out;
  }

 private:
  vk::Device* device_ = nullptr;
  std::unique_ptr<vk::StagingRing> staging_;
};

}  // namespace dsv4::test
