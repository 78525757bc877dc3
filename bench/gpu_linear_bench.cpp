// Dense linear layers on the GPU (graph/vulkan/linear.h) at DeepSeek-V4 Flash and Pro shapes:
//   ./gpu_linear_bench --benchmark_format=json      (DSV4_DEVICE picks the device)
// Decode GEMVs report weight GB/s and the fraction of the device's measured read bandwidth
// (vk/bandwidth.h, same run), two ways:
//   gemv/...        latency: many repetitions in one recording writing the same output, so a
//                   barrier separates them (as consecutive layers in a decode step); GPU timestamps.
//   gemv_stream/... throughput: repetitions with distinct outputs and no scratch, hence no
//                   barriers, so they overlap; (wall time of 2N - wall time of N) / N, which
//                   cancels the submission's fixed cost.
// Weights rotate over copies totalling more than any L2 cache so each repetition streams from
// memory. Prefill GEMMs: bench/gpu_gemm_bench.cpp.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
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
using gpu::LinearOutput;
using gpu::LinearPath;

struct Env {
  vk::Instance instance;
  std::unique_ptr<vk::Device> device = vk::Device::open(instance, vk::device_selector(""));
  gpu::Context ctx{*device};
  vk::StagingRing staging{*device};
  double read_gbps = vk::measure_bandwidth(*device).read_gbps;
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

// How the FP8 act_quant GEMV gets its quantised activations (linear.h).
enum class Quant {
  Scratch,   // scratch given (what the executor does): act_quant dispatch + gemv_q
  Fused,     // scratch given, fuse_act_quant on: gemv_q quantises where the batch fits one block
  InKernel,  // no scratch: gemv_q's fused blocks (gemv.comp past K 8192)
};

struct Shape {
  WeightFormat f;
  int64_t rows, cols;
  uint32_t tokens;
  LinearOutput out;
  bool act_quant = true;
  Quant quant = Quant::Scratch;
};

// The activations, output and step of `tokens` rows, shared by a benchmark's repetitions.
struct Io {
  vk::Buffer step, x, y, scratch;
  uint64_t y_stride = 0;  // bytes between the outputs of repetitions (0: all write the same y)
};

Io make_io(const Shape& s, const gpu::DeviceMatrix& w0, size_t distinct_outputs) {
  Env& e = env();
  Io io;
  std::vector<gpu::StepRow> step_rows;
  std::vector<int64_t> tok(s.tokens, 1);
  gpu::append_rows(step_rows, 0, tok, 0);
  ModelConfig cfg;
  cfg.rope_head_dim = 64;
  const gpu::RopeSlots slots(cfg);
  const std::vector<uint8_t> sb = gpu::encode_step(step_rows, s.tokens, slots);
  io.step = vk::Buffer::create(*e.device, gpu::step_buffer_bytes(s.tokens), vk::MemoryKind::DeviceLocal, "step");
  e.staging.upload(io.step, 0, sb.data(), sb.size());
  std::vector<float> xh(size_t(s.tokens * s.cols), 0.5f);
  io.x = vk::Buffer::create(*e.device, xh.size() * 4, vk::MemoryKind::DeviceLocal, "x");
  e.staging.upload(io.x, 0, xh.data(), xh.size() * 4);
  const uint64_t y_bytes = uint64_t(s.tokens) * uint64_t(s.rows) * 4;
  io.y_stride = distinct_outputs > 1 ? (y_bytes + 255) / 256 * 256 : 0;
  io.y = vk::Buffer::create(*e.device, std::max<uint64_t>(y_bytes, io.y_stride * distinct_outputs), vk::MemoryKind::DeviceLocal, "y");
  if (s.quant != Quant::InKernel) {
    gpu::LinearArgs probe;
    probe.w = &w0;
    probe.max_rows = s.tokens;
    probe.output = s.out;
    probe.path = LinearPath::Gemv;
    probe.act_quant = s.act_quant;
    const uint64_t bytes = gpu::linear_scratch_bytes(e.ctx, probe);
    if (bytes > 0) io.scratch = vk::Buffer::create(*e.device, bytes, vk::MemoryKind::DeviceLocal, "scratch");
  }
  return io;
}

// The dispatches of `reps` GEMVs cycling over the weight copies (output i at i * y_stride).
std::vector<vk::Dispatch> encode_reps(const Shape& s, const Weights& w, const Io& io, size_t reps) {
  Env& e = env();
  std::vector<vk::Dispatch> d;
  const uint64_t y_bytes = uint64_t(s.tokens) * uint64_t(s.rows) * 4;
  for (size_t i = 0; i < reps; ++i) {
    gpu::LinearArgs a;
    a.w = &w.copies[i % w.copies.size()];
    a.step = io.step.range();
    a.x = io.x.range();
    a.y = io.y.range(io.y_stride * i, y_bytes);
    a.max_rows = s.tokens;
    a.output = s.out;
    a.path = LinearPath::Gemv;
    a.act_quant = s.act_quant;
    a.fuse_act_quant = s.quant == Quant::Fused;
    a.label = "bench";
    if (io.scratch.size() > 0) a.scratch = io.scratch.range();
    gpu::encode_linear(e.ctx, a, d);
  }
  return d;
}

void report(benchmark::State& state, const gpu::DeviceMatrix& m, double ns) {
  Env& e = env();
  const double bytes = double(m.data_stride() + m.scale_stride());
  state.counters["us"] = ns / 1e3;
  state.counters["weight_GBps"] = bytes / ns;
  state.counters["frac_read_bw"] = bytes / ns / e.read_gbps;
  state.counters["read_bw_GBps"] = e.read_gbps;
  state.SetLabel(e.device->caps().name);
}

// Latency: each GEMV waits for the previous one (same output: a barrier between them).
void run_chain(benchmark::State& state, const Shape& s) {
  Env& e = env();
  Weights w = make_weights(s.f, s.rows, s.cols);
  const Io io = make_io(s, w.copies[0], 1);
  const size_t reps = std::max<size_t>(20, w.copies.size() * 2);
  std::vector<vk::Dispatch> d = encode_reps(s, w, io, reps);
  const size_t per_rep = d.size() / reps;
  vk::Recording rec(*e.device, std::move(d), {true});
  rec.run();  // warm-up
  double ns = 0;
  for (auto _ : state) {
    rec.run();
    ns = total_ns(rec) / double(reps);
    state.SetIterationTime(ns * 1e-9);
  }
  report(state, w.copies[0], ns);
  state.counters["dispatches"] = double(per_rep);
  if (per_rep == 2) {  // dispatches alternate act_quant, gemv_q
    const std::vector<double> t = rec.dispatch_times_ns();
    double q = 0;
    for (size_t i = 0; i < t.size(); i += 2) q += t[i];
    state.counters["act_quant_us"] = q / double(reps) / 1e3;
  }
}

// Wall time of one submission of the recording (best of 5: the least disturbed).
double wall_ns(vk::Recording& rec) {
  double best = 1e300;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    rec.run();
    best = std::min(best, double(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
  }
  return best;
}

// Throughput: independent GEMVs (distinct outputs, no scratch: no barriers) overlap freely.
void run_stream(benchmark::State& state, Shape s) {
  Env& e = env();
  s.quant = Quant::InKernel;
  Weights w = make_weights(s.f, s.rows, s.cols);
  const size_t reps = std::max<size_t>(32, w.copies.size() * 2);
  const Io io = make_io(s, w.copies[0], 2 * reps);
  vk::Recording once(*e.device, encode_reps(s, w, io, reps), {false});
  vk::Recording twice(*e.device, encode_reps(s, w, io, 2 * reps), {false});
  state.counters["barriers"] = double(twice.barrier_count());
  once.run();
  twice.run();
  double ns = 0;
  for (auto _ : state) {
    ns = std::max(1.0, (wall_ns(twice) - wall_ns(once)) / double(reps));
    state.SetIterationTime(ns * 1e-9);
  }
  report(state, w.copies[0], ns);
}

void reg(const std::string& name, const Shape& s) {
  benchmark::RegisterBenchmark(("gemv/" + name).c_str(), [=](benchmark::State& st) { run_chain(st, s); })
      ->UseManualTime()
      ->Iterations(3)
      ->Unit(benchmark::kMicrosecond);
}

void reg_stream(const std::string& name, const Shape& s) {
  benchmark::RegisterBenchmark(("gemv_stream/" + name).c_str(), [=](benchmark::State& st) { run_stream(st, s); })
      ->UseManualTime()
      ->Iterations(2)
      ->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  const auto B = LinearOutput::Bf16, F = LinearOutput::F32;
  const auto FP8 = WeightFormat::FP8, BF16 = WeightFormat::BF16;
  const Shape flash_wq_b{FP8, 32768, 1024, 1, B}, flash_wo_b{FP8, 4096, 8192, 1, B};
  const Shape flash_w1{FP8, 2048, 4096, 1, B}, flash_wq_a{FP8, 1024, 4096, 1, B};
  const Shape flash_head{BF16, 129280, 4096, 1, F};
  const Shape pro_wq_b{FP8, 65536, 1536, 1, B}, pro_wo_b{FP8, 7168, 16384, 1, B}, pro_w1{FP8, 3072, 7168, 1, B};
  const Shape pro_head{BF16, 129280, 7168, 1, F};
  // Decode GEMVs, batch 1, as the executor runs them (FP8: act_quant dispatch + gemv_q; us and
  // GB/s include the act_quant dispatch).
  reg("flash/wq_b_fp8_32768x1024", flash_wq_b);
  reg("flash/wo_b_fp8_4096x8192", flash_wo_b);
  reg("flash/shared_w1_fp8_2048x4096", flash_w1);
  reg("flash/wq_a_fp8_1024x4096", flash_wq_a);
  reg("flash/head_bf16_f32out_129280x4096", flash_head);
  reg("pro/wq_b_fp8_65536x1536", pro_wq_b);
  reg("pro/wo_b_fp8_7168x16384", pro_wo_b);
  reg("pro/shared_w1_fp8_3072x7168", pro_w1);
  reg("pro/head_bf16_f32out_129280x7168", pro_head);
  // Batches: blocks of 8 rows (37: 5 blocks, each reading the weight tile, 4 of them from L2).
  Shape b = flash_wq_b;
  b.tokens = 4;
  reg("flash/wq_b_fp8_batch4", b);
  b.tokens = 8;
  reg("flash/wq_b_fp8_batch8", b);
  b = flash_wo_b;
  b.tokens = 8;
  reg("flash/wo_b_fp8_batch8", b);
  b = flash_wq_b;
  b.tokens = 37;
  reg("flash/wq_b_fp8_batch37", b);
  b = flash_w1;
  b.tokens = 37;
  reg("flash/shared_w1_fp8_batch37", b);
  // The head of a batched decode step: one block of 8 rows, the weight read once.
  b = flash_head;
  b.tokens = 8;
  reg("flash/head_bf16_f32out_batch8", b);
  // act_quant fused into gemv_q (one dispatch, each workgroup quantising x), for comparison.
  for (auto [name, s] : {std::pair{"flash/wq_b_fp8_32768x1024", flash_wq_b}, {"flash/wo_b_fp8_4096x8192", flash_wo_b},
                         {"flash/shared_w1_fp8_2048x4096", flash_w1}, {"flash/wq_a_fp8_1024x4096", flash_wq_a}}) {
    s.quant = Quant::Fused;
    reg(std::string("fused/") + name, s);
  }
  // Variants isolating the cost of act_quant: FP8 without it (wo_a's path) and BF16.
  reg("flash/wo_b_fp8_noquant_4096x8192", {FP8, 4096, 8192, 1, B, false});
  reg("flash/wo_b_bf16_4096x8192", {BF16, 4096, 8192, 1, B});
  reg("flash/fp8_noquant_8192x4096", {FP8, 8192, 4096, 1, B, false});
  // Streaming throughput of the same kernels.
  reg_stream("flash/wq_b_fp8_32768x1024", flash_wq_b);
  reg_stream("flash/wo_b_fp8_4096x8192", flash_wo_b);
  reg_stream("flash/shared_w1_fp8_2048x4096", flash_w1);
  reg_stream("flash/wq_a_fp8_1024x4096", flash_wq_a);
  reg_stream("flash/head_bf16_f32out_129280x4096", flash_head);
  reg_stream("pro/wq_b_fp8_65536x1536", pro_wq_b);
  reg_stream("pro/shared_w1_fp8_3072x7168", pro_w1);
  reg_stream("flash/wo_b_bf16_4096x8192", {BF16, 4096, 8192, 1, B});
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
