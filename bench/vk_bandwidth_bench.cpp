// Device memory bandwidth with plain compute kernels (vk/bandwidth.h), reported as counters:
//   ./vk_bandwidth_bench --benchmark_format=json
// DSV4_DEVICE picks the device; sizes are bytes of the buffer read (and written, for copy).
#include <benchmark/benchmark.h>

#include <memory>

#include "vk/bandwidth.h"
#include "vk/device.h"
#include "vk/device_select.h"
#include "vk/instance.h"

namespace {

dsv4::vk::Device& bench_device() {
  static dsv4::vk::Instance instance;
  static std::unique_ptr<dsv4::vk::Device> device = dsv4::vk::Device::open(instance, dsv4::vk::device_selector(""));
  return *device;
}

void BM_DeviceBandwidth(benchmark::State& state) {
  dsv4::vk::Device& device = bench_device();
  dsv4::vk::BandwidthOptions o;
  o.bytes = uint64_t(state.range(0)) << 20;
  o.iterations = 3;
  dsv4::vk::Bandwidth bw;
  for (auto _ : state) {
    bw = dsv4::vk::measure_bandwidth(device, o);
    state.SetIterationTime(double(bw.bytes) / (bw.read_gbps * 1e9));
  }
  state.counters["read_GBps"] = bw.read_gbps;
  state.counters["copy_GBps"] = bw.copy_gbps;
  state.counters["bytes"] = double(bw.bytes);
  state.counters["gpu_timestamps"] = bw.timestamps ? 1 : 0;
  state.SetLabel(device.caps().name);
}

BENCHMARK(BM_DeviceBandwidth)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
