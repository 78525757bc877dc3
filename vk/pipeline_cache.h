// The on-disk VkPipelineCache: compiled pipelines survive between runs. One file per device and
// driver (pipelineCacheUUID + vendor/device id + driver version in the name), in $DSV4_CACHE_DIR,
// else $XDG_CACHE_HOME/dsv4, else ~/.cache/dsv4. Corrupt or mismatched files are ignored;
// writes are atomic (temporary file + rename).
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "vk/caps.h"

namespace dsv4::vk {

class Device;

// The cache directory from the environment (see above); empty if none can be determined.
std::filesystem::path pipeline_cache_dir();
// "pipelines-10de-2330-<driver version hex>-<uuid hex>.bin"
std::string pipeline_cache_file_name(const Caps& caps);
// True if `data` starts with a VkPipelineCacheHeaderVersionOne written by this device and driver.
bool pipeline_cache_header_matches(std::span<const uint8_t> data, const Caps& caps);

class PipelineCache {
 public:
  // dir empty: no file, an in-memory cache only.
  PipelineCache(Device& device, std::filesystem::path dir = pipeline_cache_dir());
  ~PipelineCache();  // saves if anything may have changed; errors are swallowed (see save())
  PipelineCache(const PipelineCache&) = delete;
  PipelineCache& operator=(const PipelineCache&) = delete;

  VkPipelineCache handle() const { return cache_; }
  const std::filesystem::path& file() const { return file_; }
  // Bytes accepted from disk at creation (0: no file, or it was ignored as corrupt/mismatched).
  size_t loaded_bytes() const { return loaded_bytes_; }
  std::vector<uint8_t> data() const;
  // Writes the cache atomically; throws vk::Error naming the file on I/O failure.
  void save();

 private:
  Device& device_;
  std::filesystem::path file_;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  size_t loaded_bytes_ = 0;
};

}  // namespace dsv4::vk
