// The MoE router gate on the GPU (graph/vulkan/moe.h encode_gate) at DeepSeek-V4 Flash's shape
// (256 experts x 4096, bf16 gate, fp32 activations, top-6), timed with GPU timestamps:
//   ./gpu_gate_bench --benchmark_format=json
// Both paths: one workgroup per row (moe/gate) and the logits spread over E/2 workgroups per row
// (moe/gate_logits + moe/gate_select, when a logits scratch is given). gate_GBps counts the gate
// matrix once (rows share it through the cache) and bw_fraction compares it with the measured
// read bandwidth (vk/bandwidth.h); logits_us / select_us split the two-dispatch path.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "graph/vulkan/moe.h"
#include "graph/vulkan/step.h"
#include "vk/bandwidth.h"
#include "vk/device.h"
#include "vk/device_select.h"
#include "vk/instance.h"
#include "vk/staging.h"

namespace {

using namespace dsv4;

vk::Device& bench_device() {
  static vk::Instance instance;
  static std::unique_ptr<vk::Device> device = vk::Device::open(instance, vk::device_selector(""));
  return *device;
}

double read_bandwidth_gbps() {
  static const double gbps = [] {
    vk::BandwidthOptions o;
    o.bytes = 1024ull << 20;
    return vk::measure_bandwidth(bench_device(), o).read_gbps;
  }();
  return gbps;
}

template <typename T>
vk::Buffer upload(vk::StagingRing& staging, const std::vector<T>& v, const char* what) {
  vk::Buffer b = vk::Buffer::create(bench_device(), std::max<uint64_t>(16, v.size() * sizeof(T)), vk::MemoryKind::DeviceLocal, what);
  staging.upload(b, 0, v.data(), v.size() * sizeof(T));
  return b;
}

void run_gate(benchmark::State& state, uint32_t rows, bool split) {
  const int64_t dim = 4096, experts = 256, topk = 6;
  vk::Device& dev = bench_device();
  read_bandwidth_gbps();  // measured first: also brings the clocks up before the timed runs
  vk::StagingRing staging(dev);
  gpu::Context ctx(dev);
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<uint16_t> gate_bits(size_t(experts * dim));
  for (uint16_t& b : gate_bits) {
    const float v = 0.02f * n(rng);
    uint32_t u;
    std::memcpy(&u, &v, 4);
    b = uint16_t(u >> 16);
  }
  std::vector<float> x(size_t(rows * dim)), bias(static_cast<size_t>(experts));
  for (float& v : x) v = n(rng);
  for (float& v : bias) v = 0.1f * n(rng);
  vk::Buffer gate_buf = upload(staging, gate_bits, "gate");
  gpu::DeviceMatrix gate;
  gate.name = "gate";
  gate.format = graph::WeightFormat::BF16;
  gate.rows = experts, gate.cols = dim;
  gate.data = gate_buf.range();
  std::vector<gpu::StepRow> step_rows(rows);
  for (uint32_t i = 0; i < rows; ++i) step_rows[i] = {int32_t(i), int32_t(i), 0, 0};
  std::vector<uint8_t> step_bytes(gpu::step_buffer_bytes(rows), 0);
  const uint32_t header[4] = {rows, rows, 0, 0};
  std::memcpy(step_bytes.data(), header, 16);
  std::memcpy(step_bytes.data() + 16, step_rows.data(), rows * 16);
  vk::Buffer step = upload(staging, step_bytes, "step");
  vk::Buffer xb = upload(staging, x, "x");
  vk::Buffer bias_buf = upload(staging, bias, "bias");
  vk::Buffer route = vk::Buffer::create(dev, gpu::route_bytes(topk, rows), vk::MemoryKind::DeviceLocal, "route");
  vk::Buffer logits = vk::Buffer::create(dev, gpu::gate_logits_bytes(experts, rows), vk::MemoryKind::DeviceLocal, "logits");
  vk::Buffer counters = upload(staging, std::vector<uint32_t>(rows, 0u), "counters");
  gpu::GateArgs a;
  a.gate = &gate;
  a.bias = bias_buf.range();
  a.step = step.range();
  a.x = xb.range();
  a.route = route.range();
  if (split) {
    a.logits = logits.range();
    a.counters = counters.range();
  }
  a.max_rows = rows;
  a.n_experts = experts;
  a.topk = topk;
  a.route_scale = 2.5f;
  std::vector<vk::Dispatch> d;
  gpu::encode_gate(ctx, a, d);
  vk::Recording rec(dev, std::move(d), {.timestamps = true});
  rec.run();  // warm-up
  double best = 1e30;
  std::vector<double> best_each;
  for (auto _ : state) {
    rec.run();
    const std::vector<double> t = rec.dispatch_times_ns();
    double total = 0;
    for (double v : t) total += v;
    if (total < best) best_each = t;
    best = std::min(best, total);
    state.SetIterationTime(total * 1e-9);
  }
  const double bytes = double(experts * dim * 2);
  state.counters["gate_us"] = best * 1e-3;
  state.counters["gate_GBps"] = bytes / best;  // bytes per ns = GB/s
  state.counters["bw_fraction"] = bytes / best / read_bandwidth_gbps();
  state.counters["read_bw_GBps"] = read_bandwidth_gbps();
  if (split && best_each.size() == 2) {
    state.counters["logits_us"] = best_each[0] * 1e-3;
    state.counters["select_us"] = best_each[1] * 1e-3;
  }
  state.SetLabel(dev.caps().name);
}

void BM_GateDecodeFlashOneWorkgroup(benchmark::State& s) { run_gate(s, 1, false); }
void BM_GateDecodeFlashSplit(benchmark::State& s) { run_gate(s, 1, true); }
void BM_GatePrefillFlashOneWorkgroup(benchmark::State& s) { run_gate(s, uint32_t(s.range(0)), false); }
void BM_GatePrefillFlashSplit(benchmark::State& s) { run_gate(s, uint32_t(s.range(0)), true); }

}  // namespace

BENCHMARK(BM_GateDecodeFlashOneWorkgroup)->UseManualTime()->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GateDecodeFlashSplit)->UseManualTime()->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GatePrefillFlashOneWorkgroup)->Arg(64)->UseManualTime()->Iterations(20)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GatePrefillFlashSplit)->Arg(64)->UseManualTime()->Iterations(20)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
