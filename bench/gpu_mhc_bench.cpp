// mHC hc_pre / hc_head on the GPU (graph/vulkan/mhc.h) at decode shapes (1 and 8 rows, dim 4096
// = Flash and 7168 = Pro, hc 4), and hc_pre's split path at a prefill chunk's 4,096 rows:  ./gpu_mhc_bench --benchmark_format=json  (DSV4_DEVICE picks it)
// Two paths: one workgroup per row (no scratch) and the split one (HcPreArgs::mix_partials: the
// per-block dots over many workgroups first). Times are GPU timestamps (sum of the call's
// dispatches) averaged over the calls of one recording; fn rotates over copies totalling more than
// any L2 cache, as in a decode step where the other layers evict it. GB/s counts fn's bytes.
#include <benchmark/benchmark.h>

#include <bit>
#include <memory>
#include <numeric>
#include <string>

#include "graph/vulkan/mhc.h"
#include "graph/vulkan/step.h"
#include "vk/device.h"
#include "vk/device_select.h"
#include "vk/instance.h"
#include "vk/staging.h"

namespace {

using namespace dsv4;

struct Env {
  vk::Instance instance;
  std::unique_ptr<vk::Device> device = vk::Device::open(instance, vk::device_selector(""));
  gpu::Context ctx{*device};
  vk::StagingRing staging{*device};
};

Env& env() {
  static Env e;
  return e;
}

vk::Buffer filled(uint64_t floats, float v, const char* what) {
  Env& e = env();
  vk::Buffer b = vk::Buffer::create(*e.device, floats * 4, vk::MemoryKind::DeviceLocal, what);
  const std::vector<float> h(floats, v);
  e.staging.upload(b, 0, h.data(), h.size() * 4);
  return b;
}

void run_mhc(benchmark::State& state, bool head, uint32_t dim, uint32_t rows, bool split, bool norm) {
  Env& e = env();
  const uint32_t hc = 4, width = hc * dim, outputs = head ? hc : (2 + hc) * hc;
  const uint64_t fn_floats = uint64_t(outputs) * width;
  if (uint64_t(rows) * width * 4 > e.device->caps().max_storage_buffer_range) {
    state.SkipWithError("the streams exceed one storage-buffer binding on this device");
    return;
  }
  // Enough copies of fn that they do not all stay in L2 (decode); a prefill-sized call reads far more.
  const uint32_t copies = rows >= 1024 ? 2u : uint32_t(std::max<uint64_t>(2, (128ull << 20) / (fn_floats * 4) + 1));
  std::vector<vk::Buffer> fns;
  for (uint32_t i = 0; i < copies; ++i) fns.push_back(filled(fn_floats, 0.01f, "fn"));
  std::vector<gpu::StepRow> step_rows;
  const std::vector<int64_t> tok(1, 1);
  for (uint32_t r = 0; r < rows; ++r) gpu::append_rows(step_rows, 5, tok, int32_t(r));  // a decode batch
  ModelConfig cfg;
  cfg.rope_head_dim = 64;
  const std::vector<uint8_t> sb = gpu::encode_step(step_rows, rows, gpu::RopeSlots(cfg));
  vk::Buffer step = vk::Buffer::create(*e.device, gpu::step_buffer_bytes(rows), vk::MemoryKind::DeviceLocal, "step");
  e.staging.upload(step, 0, sb.data(), sb.size());
  vk::Buffer xs = filled(uint64_t(rows) * width, 0.5f, "streams"), base = filled(outputs, 0.1f, "base"),
             scale = filled(3, 0.5f, "scale"), y = filled(uint64_t(rows) * dim, 0.f, "y"),
             post = filled(uint64_t(rows) * hc, 0.f, "post"), comb = filled(uint64_t(rows) * hc * hc, 0.f, "comb"),
             scratch = filled(gpu::hc_mix_scratch_bytes(dim, hc, rows) / 4, 0.f, "scratch"),
             norm_w = filled(dim / 2, std::bit_cast<float>(0x3f803f80u), "norm weight (bf16 pairs of 1.0)"),
             norm_out = filled(uint64_t(rows) * dim, 0.f, "norm out");
  std::vector<vk::Dispatch> d;
  for (uint32_t i = 0; i < copies; ++i) {
    const gpu::HcDeviceWeights w{fns[i].range(), base.range(), scale.range()};
    const vk::BufferRange partials = split ? scratch.range() : vk::BufferRange{};
    if (head) {
      gpu::HcHeadArgs a{step.range(), xs.range(), w, y.range(), dim, hc, rows};
      a.mix_partials = partials;
      gpu::encode_hc_head(e.ctx, a, d);
    } else {
      gpu::HcPreArgs a{step.range(), xs.range(), w, y.range(), post.range(), comb.range(), dim, hc, rows};
      a.mix_partials = partials;
      if (norm) a.norm_weight = norm_w.range(), a.norm_out = norm_out.range();  // attn_norm / ffn_norm fused
      gpu::encode_hc_pre(e.ctx, a, d);
    }
  }
  vk::Recording rec(*e.device, std::move(d), {true});
  rec.run();  // warm-up
  double ns = 0;
  for (auto _ : state) {
    rec.run();
    const std::vector<double> t = rec.dispatch_times_ns();
    ns = std::accumulate(t.begin(), t.end(), 0.0) / double(copies);
    state.SetIterationTime(ns * 1e-9);
  }
  state.counters["us"] = ns / 1e3;
  if (split) {  // dispatches alternate hc_mix_partials, hc_pre / hc_head
    const std::vector<double> t = rec.dispatch_times_ns();
    double q = 0;
    for (size_t i = 0; i < t.size(); i += 2) q += t[i];
    state.counters["partials_us"] = q / double(copies) / 1e3;
  }
  state.counters["fn_GBps"] = double(fn_floats * 4) / ns;
  state.SetLabel(e.device->caps().name);
}

const bool registered = [] {
  for (bool head : {false, true})
    for (uint32_t dim : {4096u, 7168u})
      for (uint32_t rows : {1u, 8u})
        for (int path = 0; path < (head ? 2 : 3); ++path) {  // one workgroup per row, split, split + norm
          const bool split = path > 0, norm = path == 2;
          const std::string n = std::string(head ? "hc_head" : "hc_pre") + "/dim" + std::to_string(dim) + "/rows" +
                                std::to_string(rows) + (norm ? "/split_norm" : split ? "/split" : "/one_wg_per_row");
          benchmark::RegisterBenchmark(n.c_str(), run_mhc, head, dim, rows, split, norm)->UseManualTime()->Iterations(20);
        }
  // A prefill chunk's worth of rows (hc_mix_partials takes 8 rows a workgroup there).
  for (uint32_t dim : {4096u, 7168u})
    benchmark::RegisterBenchmark(("hc_pre/dim" + std::to_string(dim) + "/rows4096/split").c_str(), run_mhc, false, dim,
                                 4096u, true, false)
        ->UseManualTime()
        ->Iterations(5);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
