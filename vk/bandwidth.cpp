#include "vk/bandwidth.h"

#include <algorithm>
#include <chrono>

#include "vk/device.h"
#include "vk/error.h"
#include "vk/kernel.h"
#include "vk/memory.h"
#include "vk/recording.h"

namespace dsv4::vk {

namespace {

// Seconds of the fastest of `iterations` runs of a one-dispatch recording.
double best_seconds(Recording& rec, int iterations) {
  rec.run();  // warm-up: first-touch page faults, pipeline compilation in lazy drivers
  double best = 1e30;
  for (int i = 0; i < iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    rec.run();
    const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::vector<double> ns = rec.dispatch_times_ns();
    best = std::min(best, ns.empty() ? host : ns[0] * 1e-9);
  }
  return best;
}

}  // namespace

Bandwidth measure_bandwidth(Device& device, BandwidthOptions options) {
  const Caps& caps = device.caps();
  uint64_t bytes = std::min({options.bytes, caps.max_storage_buffer_range, caps.max_memory_allocation_size});
  bytes = bytes / 16 * 16;
  if (bytes < 16) throw Error("bandwidth probe: buffer of " + std::to_string(options.bytes) + " bytes is too small");
  const uint32_t vec4s = uint32_t(std::min<uint64_t>(bytes / 16, UINT32_MAX));
  const uint32_t groups = std::max<uint32_t>(1, std::min<uint64_t>(caps.max_workgroup_count[0], (vec4s + 4095) / 4096));

  Buffer src = Buffer::create(device, bytes, MemoryKind::DeviceLocal, "bandwidth probe source");
  Buffer dst = Buffer::create(device, bytes, MemoryKind::DeviceLocal, "bandwidth probe destination");
  Kernel read(device, {"bench/read_u32x4", 2, 8, {}, 0});
  Kernel copy(device, {"bench/copy_u32x4", 2, 4, {}, 0});
  RecordingOptions ro;
  ro.timestamps = true;
  Recording read_rec(device,
                     {{&read, {{src.range(), Access::Read}, {dst.range(0, 16), Access::Write}}, {vec4s, 0x9e3779b9u},
                       {groups, 1, 1}, std::nullopt, "read bandwidth"}},
                     ro);
  Recording copy_rec(device,
                     {{&copy, {{src.range(), Access::Read}, {dst.range(), Access::Write}}, {vec4s}, {groups, 1, 1},
                       std::nullopt, "copy bandwidth"}},
                     ro);
  const int iterations = std::max(1, options.iterations);
  Bandwidth out;
  out.bytes = bytes;
  out.timestamps = read_rec.has_timestamps();
  out.read_gbps = double(bytes) / best_seconds(read_rec, iterations) / 1e9;
  out.copy_gbps = 2.0 * double(bytes) / best_seconds(copy_rec, iterations) / 1e9;
  return out;
}

}  // namespace dsv4::vk
