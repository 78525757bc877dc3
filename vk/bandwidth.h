// A measured memory-bandwidth probe: the device's achievable read and copy bandwidth with plain
// compute kernels (shaders/bench/), timed with timestamp queries (host clock as a fallback). The
// reference for "fraction of bandwidth" targets (design.md §1).
#pragma once
#include <cstdint>

namespace dsv4::vk {

class Device;

struct BandwidthOptions {
  uint64_t bytes = 256ull << 20;  // clamped to maxStorageBufferRange and maxMemoryAllocationSize
  int iterations = 5;             // timed repetitions after one warm-up; the best one counts
};

struct Bandwidth {
  uint64_t bytes = 0;       // buffer size actually used
  double read_gbps = 0;     // bytes read per second / 1e9
  double copy_gbps = 0;     // (bytes read + bytes written) per second / 1e9
  bool timestamps = false;  // false: timed on the host (includes submission overhead)
};

Bandwidth measure_bandwidth(Device& device, BandwidthOptions options = {});

}  // namespace dsv4::vk
