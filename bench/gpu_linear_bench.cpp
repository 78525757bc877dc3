// Dense linear layers on the GPU (graph/vulkan/linear.h) at DeepSeek-V4 Flash and Pro shapes:
//   ./gpu_linear_bench --benchmark_format=json      (DSV4_DEVICE picks the device)
// GEMVs (decode, batch 1) report weight GB/s and the fraction of the device's measured read
// bandwidth (vk/bandwidth.h, same run); GEMMs (prefill) report TFLOP/s and the fraction of a
// measured fp16 cooperative-matrix peak (shaders/linear/coopmat_peak.comp). Times are GPU
// timestamps of many repetitions in one recording; weights rotate over copies totalling more
// than any L2 cache so each repetition streams from memory.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "graph/vulkan/linear.h"
#include "graph/vulkan/step.h"
#include "vk/bandwidth.h"
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
  double read_gbps = vk::measure_bandwidth(*device).read_gbps;
  double peak_tflops = -1;  // measured on first GEMM use
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

double measure_peak_tflops() {
  Env& e = env();
  if (!gpu::has_linear_coopmat(*e.device)) return 0;
  const uint32_t groups = 132 * 16, iters = 4096;
  vk::Buffer o = vk::Buffer::create(*e.device, uint64_t(groups) * 8 * 256 * 4, vk::MemoryKind::DeviceLocal, "peak");
  const vk::Kernel& k = e.ctx.kernels.get({"linear/coopmat_peak", 1, 8, {}, 0});
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

// Times `reps` linear layers of shape [rows, cols] on `tokens` rows.
void run_linear(benchmark::State& state, WeightFormat f, int64_t rows, int64_t cols, uint32_t tokens,
                gpu::LinearOutput out, gpu::LinearPath path, bool act_quant = true, bool use_scratch = true) {
  Env& e = env();
  if (path == gpu::LinearPath::GemmCoopmat && !gpu::has_linear_coopmat(*e.device)) {
    state.SkipWithError("no NV cooperative matrices");
    return;
  }
  Weights w = make_weights(f, rows, cols);
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

  // The FP8 act_quant GEMV's scratch (one range shared by every repetition, as the executor would).
  gpu::LinearArgs probe;
  probe.w = &w.copies[0];
  probe.max_rows = tokens;
  probe.output = out;
  probe.path = path;
  probe.act_quant = act_quant;
  const uint64_t scratch_bytes = use_scratch ? gpu::linear_scratch_bytes(e.ctx, probe) : 0;
  vk::Buffer scratch;
  if (scratch_bytes > 0) scratch = vk::Buffer::create(*e.device, scratch_bytes, vk::MemoryKind::DeviceLocal, "scratch");

  const size_t reps = std::max<size_t>(20, w.copies.size() * 2);
  std::vector<vk::Dispatch> d;
  for (size_t i = 0; i < reps; ++i) {
    gpu::LinearArgs a;
    a.w = &w.copies[i % w.copies.size()];
    a.step = step.range();
    a.x = x.range();
    a.y = y.range();
    a.max_rows = tokens;
    a.output = out;
    a.path = path;
    a.act_quant = act_quant;
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
  const gpu::DeviceMatrix& m = w.copies[0];
  const double bytes = double(m.data_stride() + m.scale_stride());
  state.counters["us"] = ns / 1e3;
  if (scratch_bytes > 0) {  // dispatches alternate act_quant, gemv_q (one row slice at these shapes)
    const std::vector<double> t = rec.dispatch_times_ns();
    double q = 0;
    for (size_t i = 0; i < t.size(); i += 2) q += t[i];
    state.counters["act_quant_us"] = q / double(reps) / 1e3;
  }
  state.counters["weight_GBps"] = bytes / ns;
  state.counters["frac_read_bw"] = bytes / ns / e.read_gbps;
  state.counters["read_bw_GBps"] = e.read_gbps;
  if (tokens > 8) {
    if (e.peak_tflops < 0) e.peak_tflops = measure_peak_tflops();
    const double tflops = 2.0 * double(tokens) * double(rows) * double(cols) / ns / 1e3;
    state.counters["TFLOPs"] = tflops;
    state.counters["coopmat_peak_TFLOPs"] = e.peak_tflops;
    if (e.peak_tflops > 0) state.counters["frac_peak"] = tflops / e.peak_tflops;
  }
  state.SetLabel(e.device->caps().name);
}

using gpu::LinearOutput;
using gpu::LinearPath;

void reg(const char* name, WeightFormat f, int64_t rows, int64_t cols, uint32_t tokens, LinearOutput out, LinearPath path,
         bool act_quant = true, bool use_scratch = true) {
  benchmark::RegisterBenchmark(name,
                               [=](benchmark::State& s) { run_linear(s, f, rows, cols, tokens, out, path, act_quant, use_scratch); })
      ->UseManualTime()
      ->Iterations(3)
      ->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  const auto B = LinearOutput::Bf16, F = LinearOutput::F32;
  const auto V = LinearPath::Gemv, S = LinearPath::GemmScalar, C = LinearPath::GemmCoopmat;
  // Decode GEMVs, batch 1.
  reg("gemv/flash/wq_b_fp8_32768x1024", WeightFormat::FP8, 32768, 1024, 1, B, V);
  reg("gemv/flash/wo_b_fp8_4096x8192", WeightFormat::FP8, 4096, 8192, 1, B, V);
  reg("gemv/flash/shared_w1_fp8_2048x4096", WeightFormat::FP8, 2048, 4096, 1, B, V);
  reg("gemv/flash/wq_a_fp8_1024x4096", WeightFormat::FP8, 1024, 4096, 1, B, V);
  reg("gemv/flash/head_bf16_f32out_129280x4096", WeightFormat::BF16, 129280, 4096, 1, F, V);
  reg("gemv/pro/wq_b_fp8_65536x1536", WeightFormat::FP8, 65536, 1536, 1, B, V);
  reg("gemv/pro/wo_b_fp8_7168x16384", WeightFormat::FP8, 7168, 16384, 1, B, V);
  reg("gemv/pro/shared_w1_fp8_3072x7168", WeightFormat::FP8, 3072, 7168, 1, B, V);
  reg("gemv/pro/head_bf16_f32out_129280x7168", WeightFormat::BF16, 129280, 7168, 1, F, V);
  reg("gemv/flash/wq_b_fp8_batch4", WeightFormat::FP8, 32768, 1024, 4, B, V);
  // The in-kernel act_quant GEMV (no LinearArgs::scratch), for comparison. us/GB/s above include
  // the act_quant dispatch of the scratch-fed path.
  reg("gemv_inkernel_quant/flash/wq_b_fp8_32768x1024", WeightFormat::FP8, 32768, 1024, 1, B, V, true, false);
  reg("gemv_inkernel_quant/flash/wo_b_fp8_4096x8192", WeightFormat::FP8, 4096, 8192, 1, B, V, true, false);
  reg("gemv_inkernel_quant/flash/shared_w1_fp8_2048x4096", WeightFormat::FP8, 2048, 4096, 1, B, V, true, false);
  reg("gemv_inkernel_quant/flash/wq_a_fp8_1024x4096", WeightFormat::FP8, 1024, 4096, 1, B, V, true, false);
  reg("gemv_inkernel_quant/flash/wq_b_fp8_batch4", WeightFormat::FP8, 32768, 1024, 4, B, V, true, false);
  // Variants isolating the cost of act_quant: FP8 without it (wo_a's path) and BF16.
  reg("gemv/flash/wo_b_fp8_noquant_4096x8192", WeightFormat::FP8, 4096, 8192, 1, B, V, false);
  reg("gemv/flash/wo_b_bf16_4096x8192", WeightFormat::BF16, 4096, 8192, 1, B, V);
  reg("gemv/flash/fp8_noquant_8192x4096", WeightFormat::FP8, 8192, 4096, 1, B, V, false);
  // Prefill GEMMs.
  for (uint32_t t : {512u, 2048u}) {
    const std::string n = std::to_string(t);
    reg(("gemm_coopmat/flash/wq_b_fp8_32768x1024/tokens" + n).c_str(), WeightFormat::FP8, 32768, 1024, t, B, C);
    reg(("gemm_coopmat/flash/shared_w1_fp8_2048x4096/tokens" + n).c_str(), WeightFormat::FP8, 2048, 4096, t, B, C);
    reg(("gemm_coopmat/flash/wo_b_fp8_4096x8192/tokens" + n).c_str(), WeightFormat::FP8, 4096, 8192, t, B, C);
    reg(("gemm_scalar/flash/wq_b_fp8_32768x1024/tokens" + n).c_str(), WeightFormat::FP8, 32768, 1024, t, B, S);
    reg(("gemm_scalar/flash/shared_w1_fp8_2048x4096/tokens" + n).c_str(), WeightFormat::FP8, 2048, 4096, t, B, S);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
