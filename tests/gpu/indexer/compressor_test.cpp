// encode_compressor against the CPU reference (graph/compressor.cpp, as CpuExecutor::compressor
// drives it): main (FP8 KV entries) and index (FP4 keys) modes, the overlapping ratio 4 and the
// non-overlapping 8 and 128, token-by-token decode and prefill chunks of several sizes, two
// sequence slots per step, a slot reused by a new sequence without any reset, and a state buffer
// that starts as garbage.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <ostream>
#include <random>

#include "gpu/common/gpu_test_helpers.h"
#include "graph/compressor.h"
#include "graph/vulkan/cache_layout.h"
#include "graph/vulkan/compressor.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

namespace fm = dsv4::formats;
using gpu::CompressorKind;

struct Shape {
  CompressorKind kind;
  int64_t d, ratio, rope = 16;
};

void PrintTo(const Shape& s, std::ostream* os) {
  *os << (s.kind == CompressorKind::Main ? "main" : "index") << " d " << s.d << " ratio " << s.ratio << " rope "
      << s.rope;
}

// One step: for each sequence slot in the step, (sequence id, first position, row count).
struct Chunk {
  int32_t slot;
  int seq_id;
  int64_t start, count;
};

// The fp32 wkv / wgate outputs of sequence `seq_id` at `pos`: deterministic, not bf16.
std::vector<float> linear_out(int seq_id, int64_t pos, int64_t width, uint32_t salt, float sd) {
  std::mt19937 rng(uint32_t(seq_id * 1000003 + pos * 7919) ^ salt);
  std::normal_distribution<float> n(0.f, sd);
  std::vector<float> v(static_cast<size_t>(width));
  for (float& x : v) x = n(rng);
  return v;
}

class CompressorTest : public GpuOpTest, public ::testing::WithParamInterface<Shape> {};

// Runs `steps` on the GPU and the reference; returns (gpu, cpu) entries keyed by (slot, entry).
// stacked: kv and score are the two halves of one buffer's 2 * coff * d rows (CompressorArgs::
// in_stride, the executor's single wkv|wgate GEMV) instead of two buffers.
void compare(const Shape& s, const std::vector<std::vector<Chunk>>& steps, vk::Device& device,
             vk::StagingRing& staging, gpu::Context& ctx, const std::function<void(std::vector<vk::Dispatch>)>& run,
             bool stacked = false, bool store_in_emit = false) {
  const int64_t kRope = s.rope;
  ModelConfig cfg;
  cfg.rope_head_dim = kRope;
  cfg.compress_ratios = {4, 8, 128};
  const gpu::RopeSlots slots(cfg);
  const int64_t coff = gpu::compressor_coff(s.ratio), width = coff * s.d, seqs = 2, max_entries = 24;
  const uint32_t max_rows = 64;
  const uint32_t entry_bytes = gpu::compressor_entry_bytes(s.kind, s.d, kRope);

  const std::vector<float> ape = random_bf16(size_t(s.ratio * width), 11, 0.5f);
  std::vector<float> norm = random_bf16(size_t(s.d), 12, 0.3f);
  std::vector<uint16_t> norm_bf16;
  for (float& v : norm) {
    v = fm::round_bf16(v + 1.f);
    norm_bf16.push_back(fm::float_to_bf16(v));
  }
  auto upload_bytes = [&](const void* p, uint64_t n, const char* what) {
    vk::Buffer b = vk::Buffer::create(device, std::max<uint64_t>(n, 16), vk::MemoryKind::DeviceLocal, what);
    staging.upload(b, 0, p, n);
    return b;
  };
  vk::Buffer ape_b = upload_bytes(ape.data(), ape.size() * 4, "ape");
  vk::Buffer norm_b = upload_bytes(norm_bf16.data(), norm_bf16.size() * 2, "norm");
  // Garbage state: the kernel must never need a reset.
  std::vector<float> garbage(gpu::compressor_state_bytes(s.ratio, s.d, seqs) / 4);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-50.f, 50.f);
  for (float& g : garbage) g = u(rng);
  vk::Buffer state = upload_bytes(garbage.data(), garbage.size() * 4, "state");
  const uint64_t cache_bytes = uint64_t(seqs * max_entries) * entry_bytes;
  std::vector<uint8_t> cache_init(cache_bytes, 0xee);
  vk::Buffer cache = upload_bytes(cache_init.data(), cache_bytes, "cache");
  vk::Buffer kv = vk::Buffer::create(device, max_rows * width * 4, vk::MemoryKind::DeviceLocal, "kv");
  vk::Buffer score = vk::Buffer::create(device, max_rows * width * 4, vk::MemoryKind::DeviceLocal, "score");
  vk::Buffer both = vk::Buffer::create(device, max_rows * 2 * width * 4, vk::MemoryKind::DeviceLocal, "kv | score");

  // Reference: one CompressorState per sequence id; expected entries per (slot, entry) = last writer.
  std::map<int, graph::CompressorState> ref;
  std::map<std::pair<int32_t, int64_t>, std::vector<float>> expected;
  for (const auto& step : steps) {
    std::vector<gpu::StepRow> rows;
    std::vector<float> kv_h(size_t(max_rows * width), 0.f), score_h(kv_h.size(), 0.f);
    for (const Chunk& c : step) {
      std::vector<int64_t> tokens(size_t(c.count), 1);
      gpu::append_rows(rows, c.start, tokens, c.slot);
      if (!ref.count(c.seq_id)) ref.emplace(c.seq_id, graph::CompressorState(s.ratio, s.d));
      for (int64_t i = 0; i < c.count; ++i) {
        const int64_t pos = c.start + i, r = int64_t(rows.size()) - c.count + i;
        const std::vector<float> k = linear_out(c.seq_id, pos, width, 0x1234, 1.f);
        const std::vector<float> g = linear_out(c.seq_id, pos, width, 0x9876, 2.f);
        std::copy(k.begin(), k.end(), kv_h.begin() + r * width);
        std::copy(g.begin(), g.end(), score_h.begin() + r * width);
        std::vector<float> entry(size_t(s.d));
        if (!graph::compressor_push(ref.at(c.seq_id), pos, k, g, ape, entry)) continue;
        const int64_t e = pos / s.ratio;
        if (s.kind == CompressorKind::Main) graph::finish_kv_entry(entry, norm, cfg.norm_eps, slots.yarn(), e * s.ratio);
        else graph::finish_index_entry(entry, norm, cfg.norm_eps, slots.yarn(), e * s.ratio);
        expected[{c.slot, e}] = entry;
      }
    }
    StepBuffers sb = make_step(device, staging, rows, max_rows, slots);
    staging.upload(kv, 0, kv_h.data(), kv_h.size() * 4);
    staging.upload(score, 0, score_h.data(), score_h.size() * 4);
    std::vector<float> both_h(size_t(max_rows * 2 * width));
    for (uint32_t r = 0; r < max_rows; ++r) {
      std::copy_n(kv_h.begin() + r * width, width, both_h.begin() + r * 2 * width);
      std::copy_n(score_h.begin() + r * width, width, both_h.begin() + r * 2 * width + width);
    }
    staging.upload(both, 0, both_h.data(), both_h.size() * 4);
    gpu::CompressorArgs a;
    a.kind = s.kind;
    a.step = sb.step.range();
    a.rope = sb.rope.range();
    a.kv = kv.range();
    a.score = score.range();
    if (stacked) {
      const uint64_t half = uint64_t(width) * 4;
      a.kv = both.range(0, both.size() - half);
      a.score = both.range(half, both.size() - half);
      a.in_stride = uint32_t(2 * width);
    }
    a.ape = ape_b.range(0, ape.size() * 4);
    a.norm = norm_b.range();
    a.state = state.range();
    a.cache = cache.range();
    a.d = s.d;
    a.rope_dim = kRope;
    a.ratio = s.ratio;
    a.rope_slot = slots.window_start(s.ratio);
    a.max_entries = max_entries;
    a.eps = cfg.norm_eps;
    a.max_rows = max_rows;
    a.store_in_emit = store_in_emit;
    std::vector<vk::Dispatch> ds;
    gpu::encode_compressor(ctx, a, ds);
    run(std::move(ds));
  }
  ASSERT_FALSE(expected.empty());

  std::vector<uint8_t> got(cache_bytes);
  staging.download(cache, 0, got.data(), cache_bytes);
  // Tolerance. The pooling's exp() is not correctly rounded on GPUs (nor bit-identical to glibc's),
  // and 1/sqrt of the RMSNorm may differ by an ulp, so a pooled value can differ by ~1 fp32 ulp;
  // after the bf16 rounding that flips a bf16 ulp with probability ~2^-16 per value, and such a
  // flip can move the value across an FP8/FP4 rounding boundary (one code step), or through the
  // Hadamard touch a whole index key's bf16 values by an ulp. So: >= 98% of values bit-equal, and
  // every value within one code step of the block's quantum: |a - b| <= amax_block / 2 for FP4
  // (steps <= 2 scale, scale <= amax / 3), 2^-3 |b| + amax_block * 2^-8 for FP8, 2^-7 |b| for bf16.
  size_t equal = 0, total = 0;
  for (const auto& [key, want] : expected) {
    std::vector<float> have(size_t(s.d));
    std::span<const uint8_t> bytes(got.data() + gpu::entry_offset(uint32_t(key.first), uint64_t(key.second),
                                                                  uint64_t(max_entries), entry_bytes),
                                   entry_bytes);
    if (s.kind == CompressorKind::Main) gpu::decode_kv_entry({uint32_t(s.d - kRope), uint32_t(kRope)}, bytes, have);
    else gpu::decode_index_entry({uint32_t(s.d)}, bytes, have);
    const int64_t block = s.kind == CompressorKind::Main ? 64 : 32;
    const int64_t quantised = s.kind == CompressorKind::Main ? s.d - kRope : s.d;
    for (int64_t i = 0; i < s.d; ++i) {
      const float a = have[size_t(i)], b = want[size_t(i)];
      ++total;
      if (std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b)) {
        ++equal;
        continue;
      }
      float amax = 0.f;
      const int64_t b0 = i / block * block;
      for (int64_t j = b0; j < std::min(quantised, b0 + block); ++j) amax = std::max(amax, std::fabs(want[size_t(j)]));
      float bound;
      if (i >= quantised) bound = std::ldexp(std::fabs(b), -7);
      else if (s.kind == CompressorKind::Main) bound = std::ldexp(std::fabs(b), -3) + std::ldexp(amax, -8);
      else bound = amax / 2;
      EXPECT_LE(std::fabs(a - b), bound) << "slot " << key.first << " entry " << key.second << " dim " << i << ": gpu "
                                         << a << " cpu " << b;
    }
  }
  EXPECT_GE(double(equal), 0.98 * double(total)) << equal << " of " << total << " values bit-equal";
  ::testing::Test::RecordProperty("bit_equal", std::to_string(equal) + "/" + std::to_string(total));
  std::printf("  %zu of %zu values bit-equal over %zu entries\n", equal, total, expected.size());
}

// Decode token by token on slot 0 while slot 1 prefills in chunks of 1, 3, 5, 16, 33; later slot 1
// starts a NEW sequence at position 0 (no reset) and slot 0 prefills a large chunk.
std::vector<std::vector<Chunk>> schedule(int64_t ratio) {
  std::vector<std::vector<Chunk>> steps;
  int64_t p0 = 0, p1 = 0;
  const int64_t sizes[] = {1, 3, 5, 16, 33, 2, 7};
  for (int64_t n : sizes) {
    steps.push_back({{0, 100, p0, 1}, {1, 200, p1, n}});
    p0 += 1;
    p1 += n;
  }
  steps.push_back({{0, 100, p0, 40}});  // a prefill chunk spanning several windows
  p0 += 40;
  // Slot 1 is reused by sequence 201 from position 0, batched with slot 0's decode.
  int64_t q = 0;
  for (int64_t n : {6, 1, 1, 25, 2}) {
    steps.push_back({{1, 201, q, n}, {0, 100, p0, 1}});
    q += n;
    p0 += 1;
  }
  if (ratio >= 64) {  // reach a few windows of the large ratio
    for (int i = 0; i < 6; ++i) {
      steps.push_back({{0, 100, p0, 60}, {1, 201, q, 3}});
      p0 += 60;
      q += 3;
    }
  }
  return steps;
}

TEST_P(CompressorTest, MatchesReferenceAcrossStepsAndSlots) {
  const Shape s = GetParam();
  compare(s, schedule(s.ratio), device(), staging(), ctx(), [&](std::vector<vk::Dispatch> d) { run(std::move(d)); });
}

TEST_P(CompressorTest, StackedInputRowsMatchTheReference) {
  const Shape s = GetParam();
  compare(s, schedule(s.ratio), device(), staging(), ctx(), [&](std::vector<vk::Dispatch> d) { run(std::move(d)); }, true);
}

// Decode only (one row per sequence): the emission kernel stores the state too
// (CompressorArgs::store_in_emit). Slot 0 runs three windows and more; slot 1 starts a new sequence
// at position 0 part way; the two rows of a step come in either slot order.
std::vector<std::vector<Chunk>> decode_schedule(int64_t ratio) {
  std::vector<std::vector<Chunk>> steps;
  const int64_t n = 3 * ratio + 5, restart = n / 3;
  int64_t q = 0;
  for (int64_t p = 0; p < n; ++p) {
    if (p == restart) q = 0;
    const Chunk a{0, 100, p, 1}, b{1, p >= restart ? 202 : 201, q++, 1};
    steps.push_back(p % 2 == 0 ? std::vector<Chunk>{a, b} : std::vector<Chunk>{b, a});
  }
  return steps;
}

TEST_P(CompressorTest, DecodeStoresTheStateInTheEmissionKernel) {
  const Shape s = GetParam();
  compare(s, decode_schedule(s.ratio), device(), staging(), ctx(), [&](std::vector<vk::Dispatch> d) { run(std::move(d)); },
          true, true);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CompressorTest,
                         ::testing::Values(Shape{CompressorKind::Main, 64, 4}, Shape{CompressorKind::Main, 64, 8},
                                           Shape{CompressorKind::Main, 64, 128}, Shape{CompressorKind::Index, 32, 4},
                                           Shape{CompressorKind::Index, 64, 4}, Shape{CompressorKind::Index, 32, 8},
                                           // the V4 widths: head_dim 512 (rope 64), index_head_dim 128
                                           Shape{CompressorKind::Main, 512, 4, 64}, Shape{CompressorKind::Main, 512, 128, 64},
                                           Shape{CompressorKind::Index, 128, 4, 64},
                                           // not powers of two: the small preset's head_dim (the
                                           // norm's pairwise leaves have 6 terms) and 576 (halves of
                                           // 9 terms split unevenly, 4 + 5)
                                           Shape{CompressorKind::Main, 192, 4, 64}, Shape{CompressorKind::Main, 192, 128, 64},
                                           Shape{CompressorKind::Main, 576, 4, 64}),
                         [](const auto& info) {
                           return std::string(info.param.kind == CompressorKind::Main ? "Main" : "Index") + "_d" +
                                  std::to_string(info.param.d) + "_ratio" + std::to_string(info.param.ratio);
                         });

}  // namespace
}  // namespace dsv4::test
