#include "vk/pipeline_cache.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

#include "vk/device.h"
#include "vk/error.h"
#include "vk/make.h"

namespace dsv4::vk {

namespace fs = std::filesystem;

namespace {

constexpr size_t kHeaderSize = 16 + VK_UUID_SIZE;  // VkPipelineCacheHeaderVersionOne

uint32_t read_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);  // the header is in host byte order by definition
  return v;
}

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string hex(uint64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

fs::path pipeline_cache_dir() {
  if (const char* d = std::getenv("DSV4_CACHE_DIR"); d && *d) return fs::path(d);
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "dsv4";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "dsv4";
  return {};
}

std::string pipeline_cache_file_name(const Caps& caps) {
  std::string uuid;
  for (uint8_t b : caps.pipeline_cache_uuid) uuid += hex(b, 2);
  return "pipelines-" + hex(caps.vendor_id, 4) + "-" + hex(caps.device_id, 4) + "-" +
         hex(caps.driver_version, 8) + "-" + uuid + ".bin";
}

bool pipeline_cache_header_matches(std::span<const uint8_t> data, const Caps& caps) {
  if (data.size() < kHeaderSize) return false;
  const uint32_t length = read_u32(data.data()), version = read_u32(data.data() + 4);
  return length >= kHeaderSize && length <= data.size() &&
         version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && read_u32(data.data() + 8) == caps.vendor_id &&
         read_u32(data.data() + 12) == caps.device_id &&
         std::memcmp(data.data() + 16, caps.pipeline_cache_uuid.data(), VK_UUID_SIZE) == 0;
}

PipelineCache::PipelineCache(Device& device, fs::path dir) : device_(device) {
  std::vector<uint8_t> initial;
  if (!dir.empty()) {
    file_ = dir / pipeline_cache_file_name(device.caps());
    initial = read_file(file_);
    // A file from another driver or a truncated write: start empty rather than hand it to the
    // driver (drivers must reject bad data, but not all do it gracefully).
    if (!pipeline_cache_header_matches(initial, device.caps())) initial.clear();
  }
  auto ci = make<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
  ci.initialDataSize = initial.size();
  ci.pInitialData = initial.empty() ? nullptr : initial.data();
  VkResult r = vkCreatePipelineCache(device.handle(), &ci, nullptr, &cache_);
  if (r != VK_SUCCESS && !initial.empty()) {  // rejected data: fall back to an empty cache
    initial.clear();
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    r = vkCreatePipelineCache(device.handle(), &ci, nullptr, &cache_);
  }
  check(r, "vkCreatePipelineCache");
  loaded_bytes_ = initial.size();
}

PipelineCache::~PipelineCache() {
  try {
    save();
  } catch (const std::exception&) {
    // A read-only or full cache directory must not break a run: the cache is only an optimisation.
  }
  vkDestroyPipelineCache(device_.handle(), cache_, nullptr);
}

std::vector<uint8_t> PipelineCache::data() const {
  size_t n = 0;
  check(vkGetPipelineCacheData(device_.handle(), cache_, &n, nullptr), "vkGetPipelineCacheData");
  std::vector<uint8_t> out(n);
  check(vkGetPipelineCacheData(device_.handle(), cache_, &n, out.data()), "vkGetPipelineCacheData");
  out.resize(n);
  return out;
}

void PipelineCache::save() {
  if (file_.empty()) return;
  const std::vector<uint8_t> bytes = data();
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  if (ec) throw Error("cannot create pipeline cache directory " + file_.parent_path().string() + ": " + ec.message());
  // Unique temporary name so concurrent dsv4 processes never interleave their writes.
  const fs::path tmp = file_.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      throw Error("cannot write pipeline cache " + tmp.string());
    }
  }
  fs::rename(tmp, file_, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot rename pipeline cache into " + file_.string());
  }
}

}  // namespace dsv4::vk
