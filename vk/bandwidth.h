// A measured memory-bandwidth probe: the device's achievable read and copy bandwidth with plain
// compute kernels (shaders/bench/), timed with timestamp queries (host clock as a fallback). The
// reference for "fraction of bandwidth" targets (design.md §1).
#pragma once
#include <cstdint>

namespace dsv4::vk {

class Device;

struct BandwidthOptions {
  // Large enough that the launch and the caches (50 MB of L2 on an H100) do not count; clamped to
  // maxStorageBufferRange and maxMemoryAllocationSize.
  uint64_t bytes = 1024ull << 20;
  int iterations = 10;  // timed repetitions after one warm-up; the best one counts
};

struct Bandwidth {
  uint64_t bytes = 0;       // buffer size actually used
  double read_gbps = 0;     // bytes read per second / 1e9
  double copy_gbps = 0;     // (bytes read + bytes written) per second / 1e9
  bool timestamps = false;  // false: timed on the host (includes submission overhead)
};

Bandwidth measure_bandwidth(Device& device, BandwidthOptions options = {});

}  // namespace dsv4::vk
