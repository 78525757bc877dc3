// Decode sparse attention (graph/vulkan/attention.h) at DeepSeek-V4-Flash shapes: 64 query heads
// of 512 dims (64 rope), window 128, CSA (ratio 4, top-512 selection) and HCA (ratio 128: every
// compressed entry) at contexts 4K, 64K and 1M, one decode row (and a batch of 8 sequences).
//   ./gpu_attention_bench --benchmark_format=json      (DSV4_DEVICE picks the device)
// Time is the GPU time of the attention dispatches (timestamps). Counters: bytes = the distinct
// bytes a step must touch (KV entries read, q read, o written, selection read), GBps = bytes /
// time, bw_fraction = GBps / the device's measured read bandwidth (vk/bandwidth.h), keys = keys
// per row, splits = workgroups per row's keys; max_us / pv_us / merge_us = mean GPU time of each
// pass. A third argument, when non-zero, overrides the number of splits (to chart the trade-off
// between workgroups per row and the merge's partials).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "graph/vulkan/attention.h"
#include "graph/vulkan/cache_layout.h"
#include "graph/vulkan/context.h"
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

struct Env {
  vk::Instance instance;
  std::unique_ptr<vk::Device> device = vk::Device::open(instance, vk::device_selector(""));
  std::unique_ptr<gpu::Context> ctx = std::make_unique<gpu::Context>(*device);
  std::unique_ptr<vk::StagingRing> staging = std::make_unique<vk::StagingRing>(*device);
  double read_gbps = 0;
};

Env& env() {
  static Env e;
  if (e.read_gbps == 0) e.read_gbps = vk::measure_bandwidth(*e.device).read_gbps;
  return e;
}

constexpr uint32_t kHeads = 64, kHeadDim = 512, kRope = 64, kWindow = 128, kTopk = 512;
const gpu::KvEntryLayout kLayout{kHeadDim - kRope, kRope};  // the cache entries' layout

ModelConfig flash_attention_config() {
  ModelConfig c;
  c.head_dim = kHeadDim;
  c.rope_head_dim = kRope;
  c.window_size = kWindow;
  c.original_seq_len = 65536;
  c.rope_factor = 16;
  c.compress_ratios = {0, 4, 128};
  return c;
}

template <typename T>
vk::Buffer upload(Env& e, const std::vector<T>& v, const char* what) {
  vk::Buffer b = vk::Buffer::create(*e.device, std::max<uint64_t>(16, v.size() * sizeof(T)), vk::MemoryKind::DeviceLocal, what);
  if (!v.empty()) e.staging->upload(b, 0, v.data(), v.size() * sizeof(T));
  return b;
}

// One attention call at Flash shapes: its buffers, arguments and dispatches.
struct AttentionCase {
  std::vector<vk::Buffer> buffers;  // step, rope, q, kv, ring, compressed, index_sel, sink, o, scratch
  gpu::SparseAttentionArgs args;
  std::vector<vk::Dispatch> dispatches;
  uint64_t keys = 0;  // keys per row
};

// ratio 4 (CSA) or 128 (HCA) at `context` tokens, `seqs` decode rows; splits 0 = attention_splits().
AttentionCase make_case(Env& e, uint32_t ratio, uint64_t context, uint32_t seqs, uint32_t splits_override) {
  AttentionCase out;
  const ModelConfig cfg = flash_attention_config();
  const gpu::RopeSlots slots(cfg);
  const uint64_t max_range = e.device->caps().max_storage_buffer_range;
  // Compressed entries per sequence: all of the context's, capped so one binding holds them (the
  // keys touched per step do not depend on the cap: CSA reads only its selection).
  uint64_t entries = context / ratio;
  entries = std::min<uint64_t>(entries, max_range / (uint64_t(kLayout.bytes()) * seqs));
  std::vector<gpu::StepRow> rows;
  for (uint32_t s = 0; s < seqs; ++s) gpu::append_rows(rows, int64_t(context) - 1, std::vector<int64_t>{1}, int32_t(s));
  const uint32_t max_rows = seqs;

  std::vector<float> rope(gpu::rope_buffer_bytes(slots, max_rows) / 4);
  slots.fill(rows, rope);
  const std::vector<uint8_t> step_bytes = gpu::encode_step(rows, max_rows, slots);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> q(size_t(max_rows) * kHeads * kHeadDim), kv(size_t(max_rows) * kHeadDim), sink(kHeads);
  for (float& v : q) v = nd(rng);
  for (float& v : kv) v = nd(rng);
  for (float& v : sink) v = nd(rng);
  // Any valid entry will do for speed: e4m3 1.0 codes, bf16 ~0.7 rope dims, scale bytes 2^-71.
  std::vector<uint8_t> ring(size_t(seqs) * kWindow * kLayout.bytes(), 0x38), comp(size_t(seqs) * entries * kLayout.bytes(), 0x38);
  std::vector<int32_t> sel(size_t(max_rows) * kTopk, -1);
  const uint64_t visible = std::min<uint64_t>(entries, context / ratio);
  for (uint32_t r = 0; r < max_rows; ++r)
    for (uint32_t j = 0; j < kTopk && j < visible; ++j) sel[size_t(r) * kTopk + j] = int32_t((uint64_t(j) * 7919) % visible);

  std::vector<vk::Buffer>& b = out.buffers;
  b.push_back(upload(e, step_bytes, "step"));
  b.push_back(upload(e, rope, "rope"));
  b.push_back(upload(e, q, "q"));
  b.push_back(upload(e, kv, "kv"));
  b.push_back(upload(e, ring, "ring"));
  b.push_back(upload(e, comp, "compressed"));
  b.push_back(upload(e, sel, "index_sel"));
  b.push_back(upload(e, sink, "sink"));
  b.push_back(vk::Buffer::create(*e.device, q.size() * 4, vk::MemoryKind::DeviceLocal, "o"));

  gpu::SparseAttentionArgs& a = out.args;
  a.step = b[0].range();
  a.rope = b[1].range();
  a.q = b[2].range();
  a.kv = b[3].range();
  a.ring = b[4].range();
  a.compressed = b[5].range();
  a.index_sel = b[6].range();
  a.attn_sink = b[7].range();
  a.o = b[8].range();
  a.max_rows = max_rows;
  a.n_heads = kHeads;
  a.head_dim = kHeadDim;
  a.rope_dim = kRope;
  a.window = kWindow;
  a.ratio = ratio;
  a.entries_per_seq = uint32_t(entries);
  a.index_topk = kTopk;
  out.keys = std::min<uint64_t>(context, kWindow) + (ratio == 4 ? std::min<uint64_t>(kTopk, visible) : visible);
  a.n_splits = splits_override > 0 ? splits_override
                                   : gpu::attention_splits(gpu::max_attention_keys(kWindow, ratio, kTopk, uint32_t(entries)));
  a.rope_slot = slots.at_pos(ratio);
  a.offset_alignment = uint32_t(e.device->caps().min_storage_buffer_offset_alignment);
  a.keep_scores = true;  // the decode configuration
  b.push_back(vk::Buffer::create(*e.device, gpu::sparse_attention_scratch_bytes(a), vk::MemoryKind::DeviceLocal, "scratch"));
  a.scratch = b[9].range();
  gpu::encode_sparse_attention(*e.ctx, a, out.dispatches);
  return out;
}

// ratio 4 (CSA) or 128 (HCA); state.range(0) = context tokens, range(1) = sequences (rows).
void BM_DecodeSparseAttention(benchmark::State& state, uint32_t ratio) {
  Env& e = env();
  const uint32_t seqs = uint32_t(state.range(1));
  AttentionCase c = make_case(e, ratio, uint64_t(state.range(0)), seqs, state.range(2) > 0 ? uint32_t(state.range(2)) : 0u);
  const gpu::SparseAttentionArgs& a = c.args;
  const uint64_t keys = c.keys;
  vk::Recording rec(*e.device, std::move(c.dispatches), {true});
  rec.run();  // warm-up (pipelines, caches)

  double sum_ns = 0;
  std::vector<double> pass_ns(3, 0.0);  // max, pv, merge
  for (auto _ : state) {
    rec.run();
    const std::vector<double> ns = rec.dispatch_times_ns();
    const double total = ns.empty() ? 0 : std::accumulate(ns.begin(), ns.end(), 0.0);
    for (size_t i = 0; i < ns.size() && i < pass_ns.size(); ++i) pass_ns[i] += ns[i];
    sum_ns += total;
    state.SetIterationTime(total > 0 ? total * 1e-9 : 1e-9);
  }
  const double mean_ns = sum_ns / double(std::max<int64_t>(1, int64_t(state.iterations())));
  const double bytes = double(seqs) * (double(keys) * kLayout.bytes() + double(kHeads) * kHeadDim * 4 * 2 +
                                       (ratio == 4 ? kTopk * 4.0 : 0.0));
  state.counters["bytes"] = bytes;
  state.counters["keys"] = double(keys);
  state.counters["splits"] = a.n_splits;
  const double iters = double(std::max<int64_t>(1, int64_t(state.iterations())));
  state.counters["max_us"] = pass_ns[0] / iters * 1e-3;
  state.counters["pv_us"] = pass_ns[1] / iters * 1e-3;
  state.counters["merge_us"] = pass_ns[2] / iters * 1e-3;
  const double gbps = mean_ns > 0 ? bytes / mean_ns : 0;  // bytes per ns = GB/s
  state.counters["GBps"] = gbps;
  state.counters["bw_fraction"] = e.read_gbps > 0 ? gbps / e.read_gbps : 0;
  state.counters["read_GBps_probe"] = e.read_gbps;
  state.counters["timestamps"] = rec.has_timestamps() ? 1 : 0;
  state.SetLabel(e.device->caps().name);
}

// The scores kernel with one phase cut out (shaders/bench/decode_scores_probe.comp: 0 none,
// 1 products, 2 key reads, 3 everything after the row checks, 4 all but the first 64-dim chunk,
// 5 the stores), recorded twice in one submission: first_us is the first copy (the submission's
// first dispatch, as in the other benchmarks here), again_us the second (warm caches, a barrier
// after the first, as a dispatch inside a decode step).
// state.range(0) = context, range(1) = probe mode, range(2) = 1 for decode_scores_rolled.comp
// (the key decode in a rolled loop: the same loads, a quarter of the decode's instructions).
void BM_DecodeScoresProbe(benchmark::State& state, uint32_t ratio) {
  Env& e = env();
  AttentionCase c = make_case(e, ratio, uint64_t(state.range(0)), 1, 0);
  const vk::Kernel& probe =
      e.ctx->kernels.get({state.range(2) ? "bench/decode_scores_rolled" : "bench/decode_scores_probe", 8, uint32_t(c.dispatches[0].push.size() * 4), {{0, uint32_t(state.range(1))}}, 0});
  vk::Dispatch scores = c.dispatches[0];
  scores.kernel = &probe;
  vk::Recording rec(*e.device, {scores, scores}, {true});
  rec.run();
  double first = 0, again = 0;
  for (auto _ : state) {
    rec.run();
    const std::vector<double> ns = rec.dispatch_times_ns();
    if (ns.size() == 2) {
      first += ns[0];
      again += ns[1];
    }
    state.SetIterationTime(ns.size() == 2 ? ns[1] * 1e-9 : 1e-9);
  }
  const double iters = double(std::max<int64_t>(1, int64_t(state.iterations())));
  state.counters["first_us"] = first / iters * 1e-3;
  state.counters["again_us"] = again / iters * 1e-3;
  state.counters["workgroups"] = double(scores.groups[0]) * scores.groups[1] * scores.groups[2];
  state.SetLabel(e.device->caps().name);
}

void probe_modes(benchmark::internal::Benchmark* b) {
  for (int64_t ctx : {int64_t(4096), int64_t(1) << 20})
    for (int64_t rolled = 0; rolled <= 1; ++rolled)
      for (int64_t mode = 0; mode <= 5; ++mode) b->Args({ctx, mode, rolled});
}

void contexts(benchmark::internal::Benchmark* b) {
  for (int64_t ctx : {int64_t(4096), int64_t(65536), int64_t(1) << 20}) b->Args({ctx, 1, 0});
  b->Args({65536, 8, 0});
}

// HCA at 1M with fewer splits than attention_splits() picks, and at 4K (160 keys: 20 by default).
void hca_split_sweep(benchmark::internal::Benchmark* b) {
  for (int64_t splits : {32, 64, 128}) b->Args({int64_t(1) << 20, 1, splits});
  for (int64_t splits : {3, 5, 10}) b->Args({4096, 1, splits});
}

// CSA (640 keys at any context: the window and the top-512) with fewer splits than the default 80:
// fewer keys per P.V workgroup against fewer partials for the merge to read.
void csa_split_sweep(benchmark::internal::Benchmark* b) {
  for (int64_t splits : {10, 20, 40}) b->Args({4096, 1, splits});
}

BENCHMARK_CAPTURE(BM_DecodeSparseAttention, csa, 4u)->Apply(contexts)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecodeSparseAttention, hca, 128u)->Apply(contexts)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecodeSparseAttention, csa_splits, 4u)
    ->Apply(csa_split_sweep)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecodeScoresProbe, csa, 4u)->Apply(probe_modes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecodeScoresProbe, hca, 128u)->Apply(probe_modes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecodeSparseAttention, hca_splits, 128u)
    ->Apply(hca_split_sweep)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
