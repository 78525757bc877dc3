// MoE on the GPU (graph/vulkan/moe.h) at DeepSeek-V4 shapes, timed with GPU timestamps:
//   ./gpu_moe_bench --benchmark_format=json
// Decode (one row): the routed experts' GEMVs (gate/up + down, shared expert included) in GB/s of
// the bytes the selected experts hold, and as a fraction of the measured read bandwidth
// (vk/bandwidth.h). Prefill (many rows): in TFLOP/s (2 * rows * (k+1) * 3 * D * inter), on the
// per-(row, slot) GEMV path and on the grouped path (GPU sort by expert + grouped GEMM, indirect
// dispatch), each forced (MoePath) so the two compare at every row count: the crossover sets
// kGroupedGemmMinRows. gemv_us sums the expert GEMV / GEMM dispatches, sort_us the three sort kernels.
// Weights are random bytes in the device formats; the route buffer is written directly (ids spread
// over the stack), so only the expert kernels are timed. Pro's 384-expert stacks exceed one 4 GiB
// binding: the bench holds 64 experts, which changes nothing for kernels that read 6 of them.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "graph/vulkan/context.h"
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

struct Matrix {
  gpu::DeviceMatrix m;
  vk::Buffer data, scale;
};

// Random codes: FP4 any nibble, e8m0 near 2^-4; FP8 e4m3 without NaN, fp32 scales 2^-6.
Matrix random_stack(vk::StagingRing& staging, graph::WeightFormat f, int64_t rows, int64_t cols, int64_t count) {
  vk::Device& dev = bench_device();
  Matrix r;
  r.m.format = f;
  r.m.rows = rows;
  r.m.cols = cols;
  r.m.count = count;
  r.m.name = "bench";
  const uint64_t db = r.m.data_stride() * uint64_t(count), sb = r.m.scale_stride() * uint64_t(count);
  r.data = vk::Buffer::create(dev, db, vk::MemoryKind::DeviceLocal, "bench weights");
  r.scale = vk::Buffer::create(dev, sb, vk::MemoryKind::DeviceLocal, "bench scales");
  std::mt19937 rng(uint32_t(rows * 31 + cols));
  std::vector<uint8_t> chunk(64 << 20);
  for (auto& b : chunk) b = uint8_t(rng() & 0x77);  // no e4m3 NaN (0x7f), small magnitudes
  for (uint64_t off = 0; off < db; off += chunk.size()) staging.upload(r.data, off, chunk.data(), std::min<uint64_t>(chunk.size(), db - off));
  std::vector<uint8_t> s(sb);
  if (f == graph::WeightFormat::FP4) {
    for (auto& b : s) b = 123;
  } else {
    const float v = 1.f / 64;
    for (size_t i = 0; i + 4 <= s.size(); i += 4) std::memcpy(&s[i], &v, 4);
  }
  staging.upload(r.scale, 0, s.data(), s.size());
  r.m.data = r.data.range();
  r.m.scale = r.scale.range();
  return r;
}

struct Shape {
  int64_t dim, inter, experts, topk;
};

uint64_t matrix_bytes(const gpu::DeviceMatrix& m) { return gpu::data_bytes(m.format, m.rows, m.cols) + gpu::scale_bytes(m.format, m.rows, m.cols); }

void run_moe(benchmark::State& state, Shape sh, uint32_t rows, graph::WeightFormat routed,
             gpu::MoePath path = gpu::MoePath::Auto, bool quantise_in_gemv = false, bool coopmat = false,
             bool merge_shared_gemv = true, bool fp4_wide_gemv = false) {
  vk::Device& dev = bench_device();
  read_bandwidth_gbps();  // measured first: also brings the clocks up before the timed runs
  vk::StagingRing staging(dev);
  gpu::Context ctx(dev);
  Matrix w1 = random_stack(staging, routed, sh.inter, sh.dim, sh.experts);
  Matrix w3 = random_stack(staging, routed, sh.inter, sh.dim, sh.experts);
  Matrix w2 = random_stack(staging, routed, sh.dim, sh.inter, sh.experts);
  Matrix s1 = random_stack(staging, graph::WeightFormat::FP8, sh.inter, sh.dim, 1);
  Matrix s3 = random_stack(staging, graph::WeightFormat::FP8, sh.inter, sh.dim, 1);
  Matrix s2 = random_stack(staging, graph::WeightFormat::FP8, sh.dim, sh.inter, 1);
  std::vector<gpu::StepRow> step_rows(rows);
  for (uint32_t i = 0; i < rows; ++i) step_rows[i] = {int32_t(i), int32_t(i), 0, 0};
  std::vector<uint8_t> step_bytes(gpu::step_buffer_bytes(rows), 0);
  const uint32_t header[4] = {rows, rows, 0, 0};
  std::memcpy(step_bytes.data(), header, 16);
  std::memcpy(step_bytes.data() + 16, step_rows.data(), rows * 16);
  vk::Buffer step = vk::Buffer::create(dev, step_bytes.size(), vk::MemoryKind::DeviceLocal, "step");
  staging.upload(step, 0, step_bytes.data(), step_bytes.size());
  std::vector<uint32_t> route(size_t(rows * 2 * sh.topk));
  std::mt19937 rng(5);
  for (uint32_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < sh.topk; ++j) {
      route[r * 2 * sh.topk + j] = uint32_t((j * sh.experts / sh.topk + rng() % (sh.experts / sh.topk)));
      const float w = 0.25f;
      std::memcpy(&route[r * 2 * sh.topk + sh.topk + j], &w, 4);
    }
  vk::Buffer route_buf = vk::Buffer::create(dev, route.size() * 4, vk::MemoryKind::DeviceLocal, "route");
  staging.upload(route_buf, 0, route.data(), route.size() * 4);
  std::vector<float> x(size_t(rows * sh.dim));
  std::normal_distribution<float> n(0.f, 1.f);
  for (float& v : x) v = n(rng);
  vk::Buffer xb = vk::Buffer::create(dev, x.size() * 4, vk::MemoryKind::DeviceLocal, "x");
  staging.upload(xb, 0, x.data(), x.size() * 4);
  vk::Buffer out = vk::Buffer::create(dev, x.size() * 4, vk::MemoryKind::DeviceLocal, "out");
  if (coopmat && !gpu::moe_coopmat(ctx)) {
    state.SkipWithError("no cooperative-matrix grouped GEMM on this device");
    return;
  }
  vk::Buffer scratch = vk::Buffer::create(dev, gpu::moe_scratch_bytes(sh.dim, sh.inter, sh.topk, rows, coopmat),
                                          vk::MemoryKind::DeviceLocal, "scratch");
  gpu::MoeArgs a;
  a.w1 = &w1.m;
  a.w3 = &w3.m;
  a.w2 = &w2.m;
  a.s1 = &s1.m;
  a.s3 = &s3.m;
  a.s2 = &s2.m;
  a.step = step.range();
  a.x = xb.range();
  a.route = route_buf.range();
  a.out = out.range();
  a.scratch = scratch.range();
  a.max_rows = rows;
  a.dim = sh.dim;
  a.inter_dim = sh.inter;
  a.topk = sh.topk;
  a.swiglu_limit = 10.f;
  a.path = path;
  a.quantise_in_gemv = quantise_in_gemv;
  a.coopmat = coopmat;
  a.merge_shared_gemv = merge_shared_gemv;
  a.fp4_wide_gemv = fp4_wide_gemv;
  // The MoE kernels kReps times in one recording, times averaged over the repetitions: one MoE
  // per submission left the GPU idle between runs, and its clocks with it (every dispatch, even
  // act_quant, read 3-4x slower than the same kernels inside `dsv4 bench`'s decode step).
  constexpr size_t kReps = 16;
  std::vector<vk::Dispatch> d;
  for (size_t r = 0; r < kReps; ++r) gpu::encode_moe(ctx, a, d);
  const size_t per_rep = d.size() / kReps;
  std::vector<std::string> labels;
  for (size_t i = 0; i < per_rep; ++i) labels.push_back(d[i].label);
  const auto starts = [](const std::string& s, const char* p) { return s.rfind(p, 0) == 0; };
  vk::Recording rec(dev, std::move(d), {.timestamps = true});
  rec.run();  // warm-up
  double best_gemv = 1e30, best_total = 1e30, best_sort = 0;
  std::vector<double> best_each;
  for (auto _ : state) {
    rec.run();
    const std::vector<double> all = rec.dispatch_times_ns();
    std::vector<double> t(per_rep, 0.0);
    for (size_t i = 0; i < all.size(); ++i) t[i % per_rep] += all[i] / double(kReps);
    double gemv = 0, total = 0, sort = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      total += t[i];
      if (starts(labels[i], "moe gate_up") || starts(labels[i], "moe down")) gemv += t[i];
      if (starts(labels[i], "moe sort")) sort += t[i];
    }
    if (gemv < best_gemv) {
      best_each = t;
      best_sort = sort;
    }
    best_gemv = std::min(best_gemv, gemv);
    best_total = std::min(best_total, total);
    state.SetIterationTime(total * 1e-9);
  }
  const double selected = double(sh.topk) * double(matrix_bytes(w1.m) + matrix_bytes(w3.m) + matrix_bytes(w2.m)) +
                          double(matrix_bytes(s1.m) + matrix_bytes(s3.m) + matrix_bytes(s2.m));
  const double flops = 2.0 * rows * double(sh.topk + 1) * 3.0 * double(sh.dim) * double(sh.inter);
  state.counters["gemv_us"] = best_gemv * 1e-3;  // the expert dispatches, GEMV or grouped GEMM
  state.counters["sort_us"] = best_sort * 1e-3;
  state.counters["moe_us"] = best_total * 1e-3;
  state.counters["selected_MB"] = selected * 1e-6;
  state.counters["gemv_GBps"] = selected / best_gemv;  // bytes per ns = GB/s
  state.counters["bw_fraction"] = selected / best_gemv / read_bandwidth_gbps();
  state.counters["read_bw_GBps"] = read_bandwidth_gbps();
  state.counters["TFLOPs"] = flops / best_total * 1e-3;
  state.counters["expert_TFLOPs"] = flops / best_gemv * 1e-3;
  // Per dispatch (us), named by position and label (the GEMV and grouped paths list different ones).
  for (size_t i = 0; i < best_each.size(); ++i) {
    std::string name = "d";  // appended piecewise: GCC 12's -Wrestrict misfires on "d" + to_string(i)
    name += std::to_string(i);
    name += "_";
    name += labels[i];
    name += "_us";
    std::replace(name.begin(), name.end(), ' ', '_');
    state.counters[name] = best_each[i] * 1e-3;
  }
  state.SetLabel(dev.caps().name);
}

// The MXFP4 GEMV's per-word arithmetic with no memory traffic (shaders/bench/fp4_decode_rate.comp;
// mode 0 as the GEMV, 1 without conversion instructions, 2 with fp32 patterns built from the
// codes), as the bytes of codes per second it could keep up with: above the read bandwidth, the
// decode does not bound the GEMV; near the GEMV's own rate (session 20: 1.95 TB/s), it does.
void BM_Fp4DecodeRate(benchmark::State& state) {
  vk::Device& dev = bench_device();
  gpu::Context ctx(dev);
  const uint32_t mode = uint32_t(state.range(0)), groups = 132 * 16, iters = 4096, words = 4;
  vk::Buffer sink = vk::Buffer::create(dev, uint64_t(groups) * 256 * 4, vk::MemoryKind::DeviceLocal, "sink");
  const vk::Kernel& k = ctx.kernels.get({"bench/fp4_decode_rate", 1, 8, {{0, mode}}, 0});
  const struct {
    uint32_t iters, seed;
  } p{iters, 12345};
  vk::Recording rec(dev, {{&k, {{sink.range(), vk::Access::Write}}, vk::push_words(p), {groups, 1, 1}, std::nullopt, "fp4 decode rate"}},
                    {.timestamps = true});
  rec.run();  // warm-up
  double best = 1e30;
  for (auto _ : state) {
    rec.run();
    const std::vector<double> t = rec.dispatch_times_ns();
    const double ns = std::accumulate(t.begin(), t.end(), 0.0);
    best = std::min(best, ns);
    state.SetIterationTime(ns * 1e-9);
  }
  const double code_bytes = double(groups) * 256 * iters * words * 4;
  state.counters["code_GBps"] = code_bytes / best;  // bytes per ns = GB/s
  state.counters["vs_read_bw"] = code_bytes / best / read_bandwidth_gbps();
  state.SetLabel(dev.caps().name);
}
BENCHMARK(BM_Fp4DecodeRate)->Arg(0)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5)->Unit(benchmark::kMicrosecond);

const Shape kFlash{4096, 2048, 256, 6};
const Shape kPro{7168, 3072, 64, 6};  // 384 experts in the model (see above)
const Shape kFlashFewExperts{4096, 2048, 8, 6};  // the same bytes read, from small stacks

void BM_MoeDecodeFlashFp4(benchmark::State& s) { run_moe(s, kFlash, 1, graph::WeightFormat::FP4); }
void BM_MoeDecodeProFp4(benchmark::State& s) { run_moe(s, kPro, 1, graph::WeightFormat::FP4); }
void BM_MoeDecodeFlashFp4FewExperts(benchmark::State& s) { run_moe(s, kFlashFewExperts, 1, graph::WeightFormat::FP4); }
void BM_MoeDecodeFlashFp8(benchmark::State& s) { run_moe(s, kFlash, 1, graph::WeightFormat::FP8); }
// The decode step's way: no act_quant dispatches, the expert GEMVs quantise their input rows.
void BM_MoeDecodeFlashFp4QuantInGemv(benchmark::State& s) {
  run_moe(s, kFlash, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, true);
}
void BM_MoeDecodeProFp4QuantInGemv(benchmark::State& s) { run_moe(s, kPro, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, true); }
// The routed and shared experts' GEMVs as a dispatch each (MoeArgs::merge_shared_gemv off).
void BM_MoeDecodeFlashFp4QuantInGemvApart(benchmark::State& s) {
  run_moe(s, kFlash, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, true, false, false);
}
void BM_MoeDecodeProFp4QuantInGemvApart(benchmark::State& s) {
  run_moe(s, kPro, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, true, false, false);
}
// A dispatch per slot kind, the inputs act-quantised by their own dispatches.
void BM_MoeDecodeFlashFp4Apart(benchmark::State& s) {
  run_moe(s, kFlash, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, false, false, false);
}
void BM_MoeDecodeProFp4Apart(benchmark::State& s) { run_moe(s, kPro, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, false, false, false); }
// The MXFP4 GEMVs on 16-byte loads (MoeArgs::fp4_wide_gemv).
void BM_MoeDecodeFlashFp4QuantInGemvWide(benchmark::State& s) {
  run_moe(s, kFlash, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, true, false, true, true);
}
void BM_MoeDecodeProFp4QuantInGemvWide(benchmark::State& s) {
  run_moe(s, kPro, 1, graph::WeightFormat::FP4, gpu::MoePath::Auto, true, false, true, true);
}
void BM_MoePrefillFlashFp4(benchmark::State& s) { run_moe(s, kFlash, uint32_t(s.range(0)), graph::WeightFormat::FP4); }
void BM_MoePrefillFlashFp4Gemv(benchmark::State& s) {
  run_moe(s, kFlash, uint32_t(s.range(0)), graph::WeightFormat::FP4, gpu::MoePath::Gemv);
}
void BM_MoePrefillFlashFp4Grouped(benchmark::State& s) {
  run_moe(s, kFlash, uint32_t(s.range(0)), graph::WeightFormat::FP4, gpu::MoePath::Grouped);
}
// The expert GEMMs (routed and shared) on cooperative matrices (MoeArgs::coopmat), as the executor's prefill runs them.
void BM_MoePrefillFlashFp4GroupedCoopmat(benchmark::State& s) {
  run_moe(s, kFlash, uint32_t(s.range(0)), graph::WeightFormat::FP4, gpu::MoePath::Grouped, false, true);
}
void BM_MoePrefillProFp4GroupedCoopmat(benchmark::State& s) {
  run_moe(s, kPro, uint32_t(s.range(0)), graph::WeightFormat::FP4, gpu::MoePath::Grouped, false, true);
}
// A tiny shape for a lavapipe smoke run: --benchmark_filter=Tiny
const Shape kTiny{256, 128, 16, 4};
void BM_MoePrefillTinyGemv(benchmark::State& s) { run_moe(s, kTiny, 64, graph::WeightFormat::FP4, gpu::MoePath::Gemv); }
void BM_MoePrefillTinyGrouped(benchmark::State& s) {
  run_moe(s, kTiny, 64, graph::WeightFormat::FP4, gpu::MoePath::Grouped);
}

BENCHMARK(BM_MoeDecodeFlashFp4)->UseManualTime()->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeProFp4)->UseManualTime()->Iterations(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeFlashFp4FewExperts)->UseManualTime()->Iterations(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeFlashFp8)->UseManualTime()->Iterations(20)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeFlashFp4QuantInGemv)->UseManualTime()->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeProFp4QuantInGemv)->UseManualTime()->Iterations(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeFlashFp4QuantInGemvApart)->UseManualTime()->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeProFp4QuantInGemvApart)->UseManualTime()->Iterations(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeFlashFp4Apart)->UseManualTime()->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeProFp4Apart)->UseManualTime()->Iterations(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeFlashFp4QuantInGemvWide)->UseManualTime()->Iterations(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoeDecodeProFp4QuantInGemvWide)->UseManualTime()->Iterations(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MoePrefillFlashFp4)->Arg(8)->Arg(128)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoePrefillFlashFp4Gemv)->Arg(64)->Arg(512)->Arg(2048)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoePrefillFlashFp4Grouped)->Arg(64)->Arg(512)->Arg(2048)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoePrefillFlashFp4GroupedCoopmat)->Arg(64)->Arg(512)->Arg(2048)->Arg(4096)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoePrefillProFp4GroupedCoopmat)->Arg(512)->Arg(4096)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoePrefillTinyGemv)->UseManualTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MoePrefillTinyGrouped)->UseManualTime()->Iterations(2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
