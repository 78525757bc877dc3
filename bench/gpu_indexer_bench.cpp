// Decode-step lightning indexer on the GPU (graph/vulkan/indexer.h): scores + top-k for one row
// (and a batch of 4) at the Flash shapes (index_n_heads 64, index_head_dim 128, index_topk 512)
// over 4K, 64K and 1M tokens of context (1,024 / 16,384 / 262,144 ratio-4 index keys). GPU time
// from timestamps; GB/s from the bytes the two kernels must touch, against the vk/bandwidth.h
// read probe:
//   ./gpu_indexer_bench --benchmark_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>

#include "graph/vulkan/cache_layout.h"
#include "graph/vulkan/context.h"
#include "graph/vulkan/indexer.h"
#include "graph/vulkan/step.h"
#include "vk/bandwidth.h"
#include "vk/device.h"
#include "vk/device_select.h"
#include "vk/instance.h"
#include "vk/memory.h"
#include "vk/recording.h"
#include "vk/staging.h"

namespace {

using namespace dsv4;

constexpr int64_t kHeads = 64, kDim = 128, kTopk = 512, kRatio = 4;

vk::Device& bench_device() {
  static vk::Instance instance;
  static std::unique_ptr<vk::Device> device = vk::Device::open(instance, vk::device_selector(""));
  return *device;
}

double probe_read_gbps() {
  static const double gbps = vk::measure_bandwidth(bench_device(), {256ull << 20, 3}).read_gbps;
  return gbps;
}

vk::Buffer filled(vk::Device& dev, vk::StagingRing& staging, const std::vector<uint8_t>& bytes, const char* what) {
  vk::Buffer b = vk::Buffer::create(dev, std::max<uint64_t>(bytes.size(), 16), vk::MemoryKind::DeviceLocal, what);
  staging.upload(b, 0, bytes.data(), bytes.size());
  return b;
}

template <class T>
std::vector<uint8_t> as_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// range(0): context tokens; range(1): rows (sequences decoding in the batch).
void BM_IndexerDecode(benchmark::State& state) {
  vk::Device& dev = bench_device();
  vk::StagingRing staging(dev);
  gpu::Context ctx(dev);
  const int64_t context = state.range(0), rows_n = state.range(1);
  const int64_t entries = context / kRatio;
  const uint32_t max_rows = uint32_t(rows_n);

  ModelConfig cfg;
  cfg.rope_head_dim = 64;
  cfg.compress_ratios = {kRatio};
  const gpu::RopeSlots slots(cfg);
  std::vector<gpu::StepRow> rows;
  for (int64_t r = 0; r < rows_n; ++r) gpu::append_rows(rows, context - 1, std::vector<int64_t>(1, 1), int32_t(r));
  vk::Buffer step = filled(dev, staging, gpu::encode_step(rows, max_rows, slots), "step");

  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  const gpu::IndexEntryLayout layout{uint32_t(kDim)};
  std::vector<uint8_t> keys(size_t(rows_n * entries) * layout.bytes());
  for (size_t i = 0; i < keys.size(); ++i)  // random codes; scale bytes 2^0
    keys[i] = (i % layout.bytes()) >= layout.scale_byte() ? 127 : uint8_t(rng());
  std::vector<float> q(size_t(rows_n * kHeads * kDim)), w(size_t(rows_n * kHeads));
  for (float& v : q) v = std::round(normal(rng) * 2.f) / 2.f;  // FP4-like values
  for (float& v : w) v = normal(rng) * 0.1f;
  vk::Buffer kb = filled(dev, staging, keys, "index keys");
  vk::Buffer qb = filled(dev, staging, as_bytes(q), "q");
  vk::Buffer wb = filled(dev, staging, as_bytes(w), "w");
  vk::Buffer scores = vk::Buffer::create(dev, gpu::indexer_scores_bytes(max_rows, entries), vk::MemoryKind::DeviceLocal, "scores");
  vk::Buffer sel = vk::Buffer::create(dev, uint64_t(max_rows * kTopk) * 4, vk::MemoryKind::DeviceLocal, "index_sel");

  gpu::IndexerTopkArgs a;
  a.step = step.range();
  a.q = qb.range();
  a.w = wb.range();
  a.index_keys = kb.range();
  a.scores = scores.range();
  a.index_sel = sel.range();
  a.heads = kHeads;
  a.dim = kDim;
  a.ratio = kRatio;
  a.topk = kTopk;
  a.max_entries = entries;
  a.max_rows = max_rows;
  std::vector<vk::Dispatch> ds;
  gpu::encode_indexer_topk(ctx, a, ds);
  vk::Recording rec(dev, std::move(ds), {.timestamps = true});
  rec.run();  // warm-up (pipelines, caches)

  double best_scores = 1e30, best_topk = 1e30;
  for (auto _ : state) {
    rec.run();
    const std::vector<double> t = rec.dispatch_times_ns();
    if (t.size() == 2) {
      best_scores = std::min(best_scores, t[0]);
      best_topk = std::min(best_topk, t[1]);
      state.SetIterationTime((t[0] + t[1]) * 1e-9);
    } else {
      state.SetIterationTime(1e-3);
    }
  }
  // Bytes the work needs: the visible keys, the scores written once and read by the selection's
  // 3 full passes (the 4th touches only the tie prefix), the queries and weights.
  const double bytes = double(rows_n) * (double(entries) * (layout.bytes() + 4.0 * 4.0) + (kHeads * kDim + kHeads) * 4.0);
  const double total_ns = best_scores + best_topk;
  state.counters["scores_us"] = best_scores * 1e-3;
  state.counters["topk_us"] = best_topk * 1e-3;
  state.counters["bytes"] = bytes;
  state.counters["GBps"] = bytes / total_ns;
  state.counters["frac_of_read_bw"] = bytes / total_ns / probe_read_gbps();
  state.counters["mac_per_s"] = double(rows_n) * double(entries) * kHeads * kDim / (best_scores * 1e-9);
  state.SetLabel(dev.caps().name);
}

BENCHMARK(BM_IndexerDecode)
    ->ArgsProduct({{4096, 65536, 1 << 20}, {1, 4}})
    ->UseManualTime()
    ->Iterations(20)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
