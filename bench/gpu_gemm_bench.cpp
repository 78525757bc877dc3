// Prefill GEMMs (graph/vulkan/linear.h, LinearPath::GemmCoopmat and GemmScalar) at DeepSeek-V4
// Flash and Pro shapes:
//   ./gpu_gemm_bench --benchmark_format=json      (DSV4_DEVICE picks the device)
// Reports TFLOP/s and the fraction of a measured fp16 cooperative-matrix peak
// (shaders/linear/coopmat_peak.comp, same run). DSV4_COOPMAT=khr runs the KHR kernels where NV
// ones would be chosen (the label names the API). Times are GPU timestamps of many repetitions in
// one recording; weights rotate over copies totalling more than any L2 cache.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>

#include "graph/vulkan/linear.h"
#include "graph/vulkan/linear_coopmat.h"
#include "graph/vulkan/step.h"
#include "vk/device.h"
#include "vk/device_select.h"
#include "vk/instance.h"
#include "vk/kernel.h"
#include "vk/staging.h"

namespace {

using namespace dsv4;
using graph::WeightFormat;

struct Env {
  vk::Instance instance;
  std::unique_ptr<vk::Device> device = vk::Device::open(instance, vk::device_selector(""));
  gpu::Context ctx{*device};
  vk::StagingRing staging{*device};
  double peak_tflops = -1;  // measured on first use
};

Env& env() {
  static Env e;
  return e;
}

// Sum of dispatch times of the last run (ns).
double total_ns(const vk::Recording& r) {
  const std::vector<double> t = r.dispatch_times_ns();
  return std::accumulate(t.begin(), t.end(), 0.0);
}

// fp16 16x16x16 coopmat multiply-adds from registers only: the ceiling a GEMM is measured against.
double measure_peak_tflops() {
  Env& e = env();
  if (!gpu::has_linear_coopmat(*e.device)) return 0;
  const uint32_t groups = 132 * 16, iters = 4096;
  vk::Buffer o = vk::Buffer::create(*e.device, uint64_t(groups) * 8 * 256 * 4, vk::MemoryKind::DeviceLocal, "peak");
  const vk::Kernel& k =
      e.ctx.kernels.get(gpu::coopmat_kernel(*e.device, gpu::linear_coopmat_api(*e.device), "linear/coopmat_peak", 1, 8, {}));
  struct {
    uint32_t iters;
    float seed;
  } p{iters, 1e-3f};
  vk::Recording rec(*e.device, {{&k, {{o.range(), vk::Access::Write}}, vk::push_words(p), {groups, 1, 1}, std::nullopt, "peak"}},
                    {true});
  rec.run();
  rec.run();
  const double flops = double(groups) * 8 * iters * 4 * 2.0 * 16 * 16 * 16;
  return flops / total_ns(rec) / 1e3;
}

double peak_tflops() {
  Env& e = env();
  if (e.peak_tflops < 0) e.peak_tflops = measure_peak_tflops();
  return e.peak_tflops;
}

struct Weights {
  std::vector<vk::Buffer> buffers;
  std::vector<gpu::DeviceMatrix> copies;
};

// Enough copies of a [rows, cols] weight to exceed 256 MiB (uninitialised: timing only).
Weights make_weights(WeightFormat f, int64_t rows, int64_t cols) {
  Env& e = env();
  Weights w;
  gpu::DeviceMatrix m;
  m.format = f;
  m.rows = rows;
  m.cols = cols;
  const uint64_t bytes = m.data_stride() + m.scale_stride();
  const size_t n = size_t(std::max<uint64_t>(1, (256ull << 20) / bytes + 1));
  for (size_t i = 0; i < n; ++i) {
    w.buffers.push_back(vk::Buffer::create(*e.device, std::max<uint64_t>(16, m.data_stride()), vk::MemoryKind::DeviceLocal, "w"));
    m.data = w.buffers.back().range(0, m.data_stride());
    if (f == WeightFormat::FP8) {
      w.buffers.push_back(vk::Buffer::create(*e.device, m.scale_stride(), vk::MemoryKind::DeviceLocal, "ws"));
      m.scale = w.buffers.back().range(0, m.scale_stride());
    }
    w.copies.push_back(m);
  }
  return w;
}

// Times `reps` FP8 act-quant linears of shape [rows, cols] on `tokens` rows; with_scratch offers
// LinearArgs::scratch (GemmCoopmat: the tiled kernels, else the untiled one).
void run_gemm(benchmark::State& state, int64_t rows, int64_t cols, uint32_t tokens, gpu::LinearPath path,
              bool with_scratch) {
  Env& e = env();
  if (path == gpu::LinearPath::GemmCoopmat && !gpu::has_linear_coopmat(*e.device)) {
    state.SkipWithError("no NV cooperative matrices");
    return;
  }
  Weights w = make_weights(WeightFormat::FP8, rows, cols);
  std::vector<gpu::StepRow> step_rows;
  std::vector<int64_t> tok(tokens, 1);
  gpu::append_rows(step_rows, 0, tok, 0);
  ModelConfig cfg;
  cfg.rope_head_dim = 64;
  const gpu::RopeSlots slots(cfg);
  const std::vector<uint8_t> sb = gpu::encode_step(step_rows, tokens, slots);
  vk::Buffer step = vk::Buffer::create(*e.device, gpu::step_buffer_bytes(tokens), vk::MemoryKind::DeviceLocal, "step");
  e.staging.upload(step, 0, sb.data(), sb.size());
  std::vector<float> xh(size_t(tokens * cols), 0.5f);
  vk::Buffer x = vk::Buffer::create(*e.device, xh.size() * 4, vk::MemoryKind::DeviceLocal, "x");
  e.staging.upload(x, 0, xh.data(), xh.size() * 4);
  vk::Buffer y = vk::Buffer::create(*e.device, uint64_t(tokens) * uint64_t(rows) * 4, vk::MemoryKind::DeviceLocal, "y");
  gpu::LinearArgs probe;
  probe.w = &w.copies[0];
  probe.max_rows = tokens;
  probe.path = path;
  const uint64_t scratch_bytes = with_scratch ? gpu::linear_scratch_bytes(e.ctx, probe) : 0;
  vk::Buffer scratch;
  if (scratch_bytes > 0) scratch = vk::Buffer::create(*e.device, scratch_bytes, vk::MemoryKind::DeviceLocal, "scratch");

  // Compute-bound: a few repetitions suffice; at least two rotations of the weight copies.
  const size_t reps = std::max<size_t>(8, w.copies.size() * 2);
  std::vector<vk::Dispatch> d;
  for (size_t i = 0; i < reps; ++i) {
    gpu::LinearArgs a;
    a.w = &w.copies[i % w.copies.size()];
    a.step = step.range();
    a.x = x.range();
    a.y = y.range();
    a.max_rows = tokens;
    a.output = gpu::LinearOutput::Bf16;
    a.path = path;
    a.act_quant = true;
    a.label = "bench";
    if (scratch_bytes > 0) a.scratch = scratch.range();
    gpu::encode_linear(e.ctx, a, d);
  }
  vk::Recording rec(*e.device, std::move(d), {true});
  rec.run();  // warm-up
  double ns = 0;
  for (auto _ : state) {
    rec.run();
    ns = total_ns(rec) / double(reps);
    state.SetIterationTime(ns * 1e-9);
  }
  const double tflops = 2.0 * double(tokens) * double(rows) * double(cols) / ns / 1e3;
  state.counters["us"] = ns / 1e3;
  if (scratch_bytes > 0) {  // dispatches alternate quantiser, GEMM
    const std::vector<double> t = rec.dispatch_times_ns();
    double q = 0;
    for (size_t i = 0; i < t.size(); i += 2) q += t[i];
    state.counters["act_quant_us"] = q / double(reps) / 1e3;
  }
  state.counters["TFLOPs"] = tflops;
  state.counters["coopmat_peak_TFLOPs"] = peak_tflops();
  if (peak_tflops() > 0) state.counters["frac_peak"] = tflops / peak_tflops();
  state.SetLabel(e.device->caps().name + std::string(" coopmat ") + gpu::coopmat_api_name(gpu::linear_coopmat_api(*e.device)));
}

void reg(const std::string& name, int64_t rows, int64_t cols, uint32_t tokens, gpu::LinearPath path,
         bool with_scratch = true) {
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_gemm(s, rows, cols, tokens, path, with_scratch); })
      ->UseManualTime()
      ->Iterations(3)
      ->Unit(benchmark::kMicrosecond);
}

struct Shape {
  const char* name;
  int64_t rows, cols;
};

const bool registered = [] {
  const Shape shapes[] = {{"flash/wq_b_fp8_32768x1024", 32768, 1024},    {"flash/wo_b_fp8_4096x8192", 4096, 8192},
                          {"flash/shared_w1_fp8_2048x4096", 2048, 4096}, {"pro/wq_b_fp8_65536x1536", 65536, 1536},
                          {"pro/wo_b_fp8_7168x16384", 7168, 16384},      {"pro/shared_w1_fp8_3072x7168", 3072, 7168}};
  for (uint32_t t : {512u, 2048u, 4096u}) {
    for (const Shape& s : shapes) {
      reg(std::string("gemm_coopmat/") + s.name + "/tokens" + std::to_string(t), s.rows, s.cols, t, gpu::LinearPath::GemmCoopmat);
    }
  }
  // The untiled coopmat kernel (no scratch) and the scalar GEMM (devices without coopmat), for comparison.
  reg("gemm_coopmat_untiled/flash/wq_b_fp8_32768x1024/tokens2048", 32768, 1024, 2048, gpu::LinearPath::GemmCoopmat, false);
  for (uint32_t t : {512u, 2048u}) {
    reg(std::string("gemm_scalar/flash/wq_b_fp8_32768x1024/tokens") + std::to_string(t), 32768, 1024, t, gpu::LinearPath::GemmScalar);
    reg(std::string("gemm_scalar/flash/shared_w1_fp8_2048x4096/tokens") + std::to_string(t), 2048, 4096, t,
        gpu::LinearPath::GemmScalar);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
