// Pipeline-cache file naming, location and header checks without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "vk/pipeline_cache.h"

namespace dsv4::vk {
namespace {

Caps fake_caps() {
  Caps c;
  c.vendor_id = 0x10de;
  c.device_id = 0x2330;
  c.driver_version = 0x8a5c0000;
  for (uint32_t i = 0; i < VK_UUID_SIZE; ++i) c.pipeline_cache_uuid[i] = uint8_t(i * 17);
  return c;
}

// A VkPipelineCacheHeaderVersionOne laid out by hand (Vulkan spec: 4 uint32 + 16-byte UUID).
std::vector<uint8_t> header(const Caps& c, uint32_t length = 32, uint32_t version = 1) {
  std::vector<uint8_t> h(48, 0xab);
  const uint32_t words[4] = {length, version, c.vendor_id, c.device_id};
  std::memcpy(h.data(), words, 16);
  std::memcpy(h.data() + 16, c.pipeline_cache_uuid.data(), 16);
  return h;
}

TEST(PipelineCacheUnit, FileNameKeysDeviceAndDriver) {
  const Caps c = fake_caps();
  EXPECT_EQ(pipeline_cache_file_name(c),
            "pipelines-10de-2330-8a5c0000-00112233445566778899aabbccddeeff.bin");
  Caps other = c;
  other.driver_version += 1;
  EXPECT_NE(pipeline_cache_file_name(other), pipeline_cache_file_name(c));
}

TEST(PipelineCacheUnit, HeaderMatchesOnlyTheSameDeviceAndDriver) {
  const Caps c = fake_caps();
  EXPECT_TRUE(pipeline_cache_header_matches(header(c), c));
  Caps vendor = c;
  vendor.vendor_id = 0x1002;
  EXPECT_FALSE(pipeline_cache_header_matches(header(c), vendor));
  Caps uuid = c;
  uuid.pipeline_cache_uuid[15] ^= 1;
  EXPECT_FALSE(pipeline_cache_header_matches(header(c), uuid));
  EXPECT_FALSE(pipeline_cache_header_matches(header(c, 32, 2), c));   // unknown header version
  EXPECT_FALSE(pipeline_cache_header_matches(header(c, 16), c));      // header length too small
  EXPECT_FALSE(pipeline_cache_header_matches(header(c, 4096), c));    // longer than the data
  auto truncated = header(c);
  truncated.resize(31);
  EXPECT_FALSE(pipeline_cache_header_matches(truncated, c));
  EXPECT_FALSE(pipeline_cache_header_matches({}, c));
}

TEST(PipelineCacheUnit, DirectoryFromEnvironment) {
  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  ::setenv("DSV4_CACHE_DIR", "/tmp/a", 1);
  ::setenv("XDG_CACHE_HOME", "/tmp/x", 1);
  ::setenv("HOME", "/tmp/h", 1);
  EXPECT_EQ(pipeline_cache_dir(), std::filesystem::path("/tmp/a"));
  ::unsetenv("DSV4_CACHE_DIR");
  EXPECT_EQ(pipeline_cache_dir(), std::filesystem::path("/tmp/x/dsv4"));
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(pipeline_cache_dir(), std::filesystem::path("/tmp/h/.cache/dsv4"));
  if (home) ::setenv("HOME", saved_home.c_str(), 1);
  else ::unsetenv("HOME");
}

}  // namespace
}  // namespace dsv4::vk
