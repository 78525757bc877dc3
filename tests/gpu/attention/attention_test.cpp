// graph/vulkan/attention.h kernels against the CPU reference ops (CpuExecutor::attn_query /
// attn_kv / window_write / sparse_attention / attn_output, graph/attention.cpp, norms, rope,
// quant) on random inputs at small shapes (head_dim 64 or 96 with rope 16, window 8).
//
// Tolerances. q_heads, kv_finish and window_write repeat the reference's arithmetic element by
// element (sequential bf16 sums, the same RoPE tables, quant.glsl's bit-exact round-trips), so
// they must match bit for bit, except that the one inverse square root of a head's norm may be
// rounded differently by a GPU's sqrt/division (lavapipe is exact): q_heads allows a head to be
// off by that one bf16 step of the norm factor (max rel 2^-7), and asserts >= 99% bit-equal.
// Sparse attention sums the dot products, the denominator and P.V in another order (fp32, and
// exp/division within a few ulp); it rounds the probabilities to bf16 against the same global max
// as the reference, so the fp32 differences (~2^-20 relative) only flip the final bf16 rounding
// when a value lies within that distance of a rounding boundary: we assert >= 99% of outputs
// bit-equal and every output within 2^-7 relative (two bf16 ulps) of max(|ref|, 2^-6 * the row's
// largest |ref|) — the floor because outputs near zero are differences of much larger sums.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "graph/attention.h"
#include "graph/norms.h"
#include "graph/quant.h"
#include "graph/rope.h"
#include "graph/vulkan/attention.h"
#include "graph/vulkan/cache_layout.h"
#include "gpu/common/gpu_test_helpers.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

ModelConfig small_config(uint32_t head_dim, uint32_t rope_dim, uint32_t window) {
  ModelConfig c;
  c.head_dim = head_dim;
  c.rope_head_dim = rope_dim;
  c.window_size = window;
  c.original_seq_len = 32;  // YaRN on for the compressed layers' tables
  c.rope_factor = 4.0;
  c.compress_ratios = {0, 4, 8, 128};
  return c;
}

const graph::RopeTable& table_for(const gpu::RopeSlots& slots, uint32_t ratio) {
  return ratio > 0 ? slots.yarn() : slots.plain();
}

// Random rows as the reference holds finished KV rows: bf16, nope dims FP8 round-tripped.
std::vector<float> random_kv(size_t rows, uint32_t head_dim, uint32_t rope_dim, uint32_t seed) {
  std::vector<float> v = random_bf16(rows * head_dim, seed);
  for (size_t r = 0; r < rows; ++r) graph::fp8_roundtrip(std::span<float>(v).subspan(r * head_dim, head_dim - rope_dim), 64);
  return v;
}

struct Compare {
  size_t total = 0, equal = 0;
  float max_rel = 0.f;
};

// Compares rows [0, n_rows) of width `width`; the relative floor is 2^-6 of the row's max |ref|.
Compare compare_rows(const std::vector<float>& got, const std::vector<float>& want, size_t n_rows, size_t width) {
  Compare c;
  for (size_t r = 0; r < n_rows; ++r) {
    float row_max = 0.f;
    for (size_t i = 0; i < width; ++i) row_max = std::max(row_max, std::fabs(want[r * width + i]));
    for (size_t i = 0; i < width; ++i) {
      const float a = got[r * width + i], b = want[r * width + i];
      ++c.total;
      if (std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b)) ++c.equal;
      c.max_rel = std::max(c.max_rel, rel_err(a, b, std::max(1e-30f, row_max * 0x1p-6f)));
    }
  }
  return c;
}

void expect_close(const Compare& c, const char* what) {
  std::printf("  %s: %zu/%zu bit-equal, max rel err %.3g\n", what, c.equal, c.total, double(c.max_rel));
  EXPECT_GE(double(c.equal), 0.99 * double(c.total)) << what << ": " << c.equal << "/" << c.total << " bit-equal";
  EXPECT_LE(c.max_rel, 0x1p-7f) << what;
  EXPECT_FALSE(std::isnan(c.max_rel)) << what;
}

using AttentionTest = GpuOpTest;

// ---- q heads --------------------------------------------------------------------------------------

TEST_F(AttentionTest, QHeadsMatchHeadRmsNormAndRope) {
  // 4 heads of 64 dims, 40 of 96 (a second, partial group of 32 heads; a partial 64-dim chunk),
  // and 33 of V4's 512 (the 8 chunks an invocation holds, the most q_heads.comp takes).
  for (const auto& [H, Dh] : {std::pair<uint32_t, uint32_t>{4, 64}, {40, 96}, {33, 512}}) {
    const uint32_t rope = 16;
    const ModelConfig cfg = small_config(Dh, rope, 8);
    const gpu::RopeSlots slots(cfg);
    for (uint32_t ratio : {0u, 4u}) {
      std::vector<gpu::StepRow> rows;
      const std::vector<int64_t> toks(5, 1), one(1, 1);
      gpu::append_rows(rows, 3, toks, 0);
      gpu::append_rows(rows, 100000, one, 1);  // large position: tables from the host
      const uint32_t max_rows = uint32_t(rows.size()) + 1;
      const StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
      std::vector<float> q = random_bf16(size_t(max_rows) * H * Dh, 11 + ratio, 3.f);
      vk::Buffer qb = upload(q, "q");
      std::vector<vk::Dispatch> d;
      gpu::encode_q_heads(ctx(), {sb.step.range(), sb.rope.range(), qb.range(), max_rows, H, Dh, rope,
                                  slots.at_pos(ratio), cfg.norm_eps, {}, {}}, d);
      run(std::move(d));
      const std::vector<float> got = download<float>(qb, q.size());
      std::vector<float> want = q;
      for (size_t r = 0; r < rows.size(); ++r)
        for (uint32_t h = 0; h < H; ++h) {
          std::span<float> head(want.data() + (r * H + h) * Dh, Dh);
          graph::head_rms_norm_bf16(head, cfg.norm_eps);
          graph::apply_rope(table_for(slots, ratio), head, rows[r].pos);
        }
      expect_close(compare_rows(got, want, rows.size(), H * Dh), "q_heads");
      for (size_t i = rows.size() * H * Dh; i < q.size(); ++i) ASSERT_EQ(got[i], q[i]) << "row past n_rows changed";
    }
  }
}

// Prefill on cooperative matrices: q_heads_half.comp writes the fp16 queries and shifts itself,
// the same bytes as q_heads then q_half.comp (whose dispatch it replaces), and leaves q as it was;
// and each fp16 query times 2^-shift is q_heads' fp32 result (exact: bf16 values within 2^-31 of
// their chunk's largest, which normed heads of random values are).
TEST_F(AttentionTest, QHeadsWriteTheFp16QueriesOfQHalf) {
  if (!device().caps().fp16) GTEST_SKIP() << "no fp16 in shaders";
  for (const uint32_t Dh : {128u, 512u}) {
    SCOPED_TRACE("head_dim " + std::to_string(Dh));
    const uint32_t H = 64, rope = 16, chunks = Dh / 64;
    const ModelConfig cfg = small_config(Dh, rope, 8);
    const gpu::RopeSlots slots(cfg);
    std::vector<gpu::StepRow> rows;
    gpu::append_rows(rows, 7, std::vector<int64_t>(3, 1), 0);
    const uint32_t max_rows = uint32_t(rows.size()) + 1;
    const StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
    std::vector<float> q = random_bf16(size_t(max_rows) * H * Dh, 21 + Dh, 3.f);
    const size_t q16_words = size_t(max_rows) * H * Dh / 2, shifts = size_t(max_rows) * (H / 32) * chunks;
    vk::Buffer qa = upload(q, "q (two dispatches)"), qb = upload(q, "q (fused)");
    vk::Buffer q16a = upload(std::vector<uint32_t>(q16_words, 0xdeadbeefu), "q16 (q_half)");
    vk::Buffer q16b = upload(std::vector<uint32_t>(q16_words, 0xdeadbeefu), "q16 (q_heads)");
    vk::Buffer sha = upload(std::vector<int32_t>(shifts, 999), "shifts (q_half)");
    vk::Buffer shb = upload(std::vector<int32_t>(shifts, 999), "shifts (q_heads)");
    std::vector<vk::Dispatch> d;
    gpu::encode_q_heads(ctx(), {sb.step.range(), sb.rope.range(), qa.range(), max_rows, H, Dh, rope, slots.at_pos(4), cfg.norm_eps, {}, {}}, d);
    const struct {
      uint32_t n_heads, head_dim;
    } hp{H, Dh};
    const vk::Kernel& half = ctx().kernels.get({"attention/q_half", 4, sizeof(hp), {}, 0});
    d.push_back({&half,
                 {{sb.step.range(), vk::Access::Read}, {qa.range(), vk::Access::Read}, {q16a.range(), vk::Access::Write},
                  {sha.range(), vk::Access::Write}},
                 vk::push_words(hp),
                 {H / 32, max_rows, 1},
                 std::nullopt,
                 "q_half"});
    const gpu::QHeadsArgs fused{sb.step.range(), sb.rope.range(), qb.range(), max_rows, H, Dh, rope, slots.at_pos(4), cfg.norm_eps,
                                q16b.range(), shb.range()};
    gpu::encode_q_heads(ctx(), fused, d);
    run(std::move(d));
    const auto a16 = download<uint32_t>(q16a, q16_words), b16 = download<uint32_t>(q16b, q16_words);
    const auto as = download<int32_t>(sha, shifts), bs = download<int32_t>(shb, shifts);
    const auto qf = download<float>(qa, q.size());
    const size_t live_words = rows.size() * H * Dh / 2, live_shifts = rows.size() * (H / 32) * chunks;
    for (size_t i = 0; i < live_words; ++i) ASSERT_EQ(b16[i], a16[i]) << "fp16 word " << i;
    for (size_t i = 0; i < live_shifts; ++i) ASSERT_EQ(bs[i], as[i]) << "shift " << i;
    for (size_t i = live_words; i < q16_words; ++i) ASSERT_EQ(b16[i], 0xdeadbeefu) << "row past n_rows written";
    EXPECT_EQ(download<float>(qb, q.size()), q) << "q must stay as it was";
    for (size_t r = 0; r < rows.size(); ++r)
      for (uint32_t h = 0; h < H; ++h)
        for (uint32_t i = 0; i < Dh; ++i) {
          const size_t e = (r * H + h) * Dh + i;
          const uint16_t bits = uint16_t(b16[e / 2] >> (16 * (e % 2)));
          const int s = bs[(r * (H / 32) + h / 32) * chunks + i / 64];
          ASSERT_EQ(std::ldexp(formats::f16_to_float(bits), -s), qf[e]) << "row " << r << " head " << h << " dim " << i;
        }
  }
}

// ---- kv finish ------------------------------------------------------------------------------------

gpu::KvFinishArgs kv_finish_args(const StepBuffers& sb, const vk::Buffer& kv, uint32_t max_rows, uint32_t head_dim,
                                 uint32_t rope_dim, uint32_t rope_slot) {
  gpu::KvFinishArgs a;
  a.step = sb.step.range();
  a.rope = sb.rope.range();
  a.kv = kv.range();
  a.max_rows = max_rows;
  a.head_dim = head_dim;
  a.rope_dim = rope_dim;
  a.rope_slot = rope_slot;
  return a;
}

TEST_F(AttentionTest, KvFinishIsBitExact) {
  for (const uint32_t Dh : {64u, 96u}) {  // nope 48 (one short block), 80 (64 + a short block)
    const uint32_t rope = 16;
    const ModelConfig cfg = small_config(Dh, rope, 8);
    const gpu::RopeSlots slots(cfg);
    std::vector<gpu::StepRow> rows;
    const std::vector<int64_t> toks(7, 1);
    gpu::append_rows(rows, 40, toks, 2);
    const uint32_t max_rows = 8;
    const StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
    std::vector<float> kv = random_bf16(size_t(max_rows) * Dh, 21 + Dh);
    for (size_t i = 0; i < 48; ++i) kv[i] = 0.f;                   // an all-zero block (1e-4 floor)
    for (size_t i = Dh; i < Dh + 16; ++i) kv[i] *= 1e-6f;          // tiny block
    kv[2 * Dh] = 1e5f;                                            // a large block scale
    vk::Buffer kb = upload(kv, "kv");
    std::vector<vk::Dispatch> d;
    gpu::encode_kv_finish(ctx(), kv_finish_args(sb, kb, max_rows, Dh, rope, slots.at_pos(8)), d);
    run(std::move(d));
    const std::vector<float> got = download<float>(kb, kv.size());
    std::vector<float> want = kv;
    for (size_t r = 0; r < rows.size(); ++r) {
      std::span<float> row(want.data() + r * Dh, Dh);
      graph::apply_rope(slots.yarn(), row, rows[r].pos);
      graph::fp8_roundtrip(row.first(Dh - rope), 64);
    }
    for (size_t i = 0; i < kv.size(); ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i])) << "Dh " << Dh << " element " << i;
  }
}

// kv_norm fused into kv_finish: bit for bit graph::rms_norm, then RoPE and the FP8 round-trip, from
// kv_raw into kv (raw left alone). Widths: nope 48 (one short block) and Flash's 448 + 64 (the
// norm's pairwise tree 64 slots deep; 9 leaves of uneven sizes for 200).
TEST_F(AttentionTest, KvFinishWithTheNormFusedIsBitExact) {
  for (const uint32_t Dh : {64u, 200u, 512u}) {
    const uint32_t rope = Dh == 512 ? 64 : 16;
    const ModelConfig cfg = small_config(Dh, rope, 8);
    const gpu::RopeSlots slots(cfg);
    std::vector<gpu::StepRow> rows;
    gpu::append_rows(rows, 40, std::vector<int64_t>(5, 1), 2);
    gpu::append_rows(rows, 3, std::vector<int64_t>(1, 1), 0);
    const uint32_t max_rows = 8;
    const StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
    std::vector<float> raw = random_bf16(size_t(max_rows) * Dh, 51 + Dh, 4.f);
    for (size_t i = 0; i < Dh; ++i) raw[i] *= 1e-3f;  // a small row: the eps term matters
    raw[2 * Dh + 5] = 300.f;                           // one large value: a large block scale
    RandomMatrix w = random_matrix(device(), staging(), graph::WeightFormat::BF16, 1, Dh, Dh, 1, {}, 1.f);
    vk::Buffer rb = upload(raw, "kv_raw");
    vk::Buffer kb = upload(std::vector<float>(raw.size(), std::nanf("")), "kv");
    gpu::KvFinishArgs a = kv_finish_args(sb, kb, max_rows, Dh, rope, slots.at_pos(8));
    a.raw = rb.range();
    a.norm_weight = w.device.data;
    a.eps = 1e-6f;
    std::vector<vk::Dispatch> d;
    gpu::encode_kv_finish(ctx(), a, d);
    run(std::move(d));
    const std::vector<float> got = download<float>(kb, raw.size());
    EXPECT_EQ(download<float>(rb, raw.size()), raw) << "raw must stay as it was";
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<float> want(Dh);
      graph::rms_norm(std::span<const float>(raw).subspan(r * Dh, Dh), w.host[0].values, 1e-6f, want);
      graph::apply_rope(slots.yarn(), want, rows[r].pos);
      graph::fp8_roundtrip(std::span(want).first(Dh - rope), 64);
      for (size_t i = 0; i < Dh; ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(got[r * Dh + i]), std::bit_cast<uint32_t>(want[i])) << "Dh " << Dh << " row " << r << " element " << i;
    }
  }
}

// Decode: kv_finish (norm fused) also writes each finished row into the window ring
// (KvFinishArgs::ring), in place of a window_write dispatch after the attention: kv as above, the
// ring's slot pos % W of each sequence byte for byte gpu::encode_kv_entry of that kv row, every
// other slot as it was.
TEST_F(AttentionTest, KvFinishWritesTheWindowRingInDecode) {
  for (const uint32_t Dh : {200u, 512u}) {
    const uint32_t rope = Dh == 512 ? 64 : 16, W = 8, seqs = 4;
    const ModelConfig cfg = small_config(Dh, rope, W);
    const gpu::RopeSlots slots(cfg);
    const gpu::KvEntryLayout layout{Dh - rope, rope};
    std::vector<gpu::StepRow> rows;  // one row per sequence, slot 2 idle
    gpu::append_rows(rows, 40, std::vector<int64_t>(1, 1), 3);
    gpu::append_rows(rows, 3, std::vector<int64_t>(1, 1), 0);
    gpu::append_rows(rows, 17, std::vector<int64_t>(1, 1), 1);
    const uint32_t max_rows = seqs;
    const StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
    std::vector<float> raw = random_bf16(size_t(max_rows) * Dh, 71 + Dh, 4.f);
    raw[Dh + 7] = 300.f;  // a large block scale
    RandomMatrix w = random_matrix(device(), staging(), graph::WeightFormat::BF16, 1, Dh, Dh, 1, {}, 1.f);
    const std::vector<float> ring_f = random_kv(size_t(seqs) * W, Dh, rope, 72);
    std::vector<uint8_t> ring(size_t(seqs) * W * layout.bytes());
    for (size_t e = 0; e < size_t(seqs) * W; ++e)
      gpu::encode_kv_entry(layout, std::span<const float>(ring_f).subspan(e * Dh, Dh),
                           std::span<uint8_t>(ring).subspan(e * layout.bytes(), layout.bytes()));
    vk::Buffer rawb = upload(raw, "kv_raw"), ringb = upload(ring, "ring");
    vk::Buffer kb = upload(std::vector<float>(raw.size(), std::nanf("")), "kv");
    gpu::KvFinishArgs a = kv_finish_args(sb, kb, max_rows, Dh, rope, slots.at_pos(8));
    a.raw = rawb.range();
    a.norm_weight = w.device.data;
    a.ring = ringb.range();
    a.window = W;
    std::vector<vk::Dispatch> d;
    gpu::encode_kv_finish(ctx(), a, d);
    run(std::move(d));
    const std::vector<float> got = download<float>(kb, raw.size());
    std::vector<uint8_t> want = ring;
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<float> kv(Dh);
      graph::rms_norm(std::span<const float>(raw).subspan(r * Dh, Dh), w.host[0].values, 1e-6f, kv);
      graph::apply_rope(slots.yarn(), kv, rows[r].pos);
      graph::fp8_roundtrip(std::span(kv).first(Dh - rope), 64);
      for (size_t i = 0; i < Dh; ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(got[r * Dh + i]), std::bit_cast<uint32_t>(kv[i])) << "Dh " << Dh << " row " << r;
      const size_t slot = size_t(rows[r].seq) * W + size_t(rows[r].pos) % W;
      gpu::encode_kv_entry(layout, kv, std::span<uint8_t>(want).subspan(slot * layout.bytes(), layout.bytes()));
    }
    EXPECT_EQ(download<uint8_t>(ringb, ring.size()), want) << "Dh " << Dh << ": ring bytes";
  }
}

// ---- window write ---------------------------------------------------------------------------------

TEST_F(AttentionTest, WindowWriteStoresTheLastWindowRowsOfEachSequenceNatively) {
  const uint32_t Dh = 96, rope = 16, W = 8, seqs = 3;
  const ModelConfig cfg = small_config(Dh, rope, W);
  const gpu::RopeSlots slots(cfg);
  const gpu::KvEntryLayout layout{Dh - rope, rope};
  std::vector<gpu::StepRow> rows;
  gpu::append_rows(rows, 5, std::vector<int64_t>(11, 1), 2);  // prefill chunk longer than the window
  gpu::append_rows(rows, 17, std::vector<int64_t>(1, 1), 0);  // decode row
  gpu::append_rows(rows, 0, std::vector<int64_t>(3, 1), 1);   // short chunk from position 0
  const uint32_t max_rows = uint32_t(rows.size()) + 2;
  const StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
  const std::vector<float> kv = random_kv(max_rows, Dh, rope, 31);
  // The ring starts with recognisable old entries that rows not written must leave alone.
  std::vector<float> ring_f = random_kv(size_t(seqs) * W, Dh, rope, 32);
  std::vector<uint8_t> ring(size_t(seqs) * W * layout.bytes());
  for (size_t s = 0; s < size_t(seqs) * W; ++s)
    gpu::encode_kv_entry(layout, std::span<const float>(ring_f).subspan(s * Dh, Dh),
                         std::span<uint8_t>(ring).subspan(s * layout.bytes(), layout.bytes()));
  vk::Buffer kb = upload(kv, "kv"), rb = upload(ring, "ring");
  std::vector<vk::Dispatch> d;
  gpu::encode_window_write(ctx(), {sb.step.range(), kb.range(), rb.range(), max_rows, Dh, rope, W}, d);
  run(std::move(d));
  const std::vector<uint8_t> got = download<uint8_t>(rb, ring.size());
  // Reference: CpuExecutor::window_write per sequence (its last <= W rows), into the float ring.
  std::vector<uint8_t> want = ring;
  for (size_t r = 0; r < rows.size(); ++r) {
    size_t last = r;
    while (last + 1 < rows.size() && rows[last + 1].first_row == rows[r].first_row) ++last;
    if (last - r >= W) continue;
    const size_t slot = size_t(rows[r].seq) * W + size_t(rows[r].pos) % W;
    std::copy_n(kv.begin() + r * Dh, Dh, ring_f.begin() + slot * Dh);
    gpu::encode_kv_entry(layout, std::span<const float>(kv).subspan(r * Dh, Dh),
                         std::span<uint8_t>(want).subspan(slot * layout.bytes(), layout.bytes()));
  }
  EXPECT_EQ(got, want) << "native ring bytes differ from gpu::encode_kv_entry";
  std::vector<float> decoded(Dh);
  for (size_t s = 0; s < size_t(seqs) * W; ++s) {
    gpu::decode_kv_entry(layout, std::span<const uint8_t>(got).subspan(s * layout.bytes(), layout.bytes()), decoded);
    for (uint32_t i = 0; i < Dh; ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(decoded[i]), std::bit_cast<uint32_t>(ring_f[s * Dh + i]))
          << "ring slot " << s << " dim " << i;
  }
}

// ---- sparse attention -----------------------------------------------------------------------------

struct SeqRows {
  int32_t seq;
  int64_t start_pos, n_rows;
};

struct AttnCase {
  const char* name;
  uint32_t ratio;
  std::vector<SeqRows> seqs;
  uint32_t n_heads = 4, head_dim = 64;
  uint32_t index_topk = 6, entries_per_seq = 48;
  uint32_t rope_dim = 16;
  int kv_exp = 0, q_exp = 0;  // every key and value times 2^kv_exp, every query times 2^q_exp
};

class SparseAttentionTest : public GpuOpTest {
 protected:
  void check(const AttnCase& c, uint32_t n_splits, bool keep_scores = false, bool coopmat = false);
};

void SparseAttentionTest::check(const AttnCase& c, uint32_t n_splits, bool keep_scores, bool coopmat) {
  SCOPED_TRACE(std::string(c.name) + ", splits " + std::to_string(n_splits) + (keep_scores ? ", kept scores" : "") +
               (coopmat ? ", coopmat" : ""));
  const uint32_t H = c.n_heads, Dh = c.head_dim, rope = c.rope_dim, W = 8, E = c.entries_per_seq, TK = c.index_topk;
  const ModelConfig cfg = small_config(Dh, rope, W);
  const gpu::RopeSlots slots(cfg);
  const gpu::KvEntryLayout layout{Dh - rope, rope};
  std::vector<gpu::StepRow> rows;
  int32_t n_seqs = 0;
  for (const SeqRows& s : c.seqs) {
    gpu::append_rows(rows, s.start_pos, std::vector<int64_t>(size_t(s.n_rows), 1), s.seq);
    n_seqs = std::max(n_seqs, s.seq + 1);
  }
  const uint32_t max_rows = uint32_t(rows.size()) + 2;  // rows past n_rows must stay untouched
  const StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
  const uint32_t seed = c.ratio * 100 + uint32_t(rows.size());

  // Per-sequence state: window ring (CPU floats + native) and compressed cache.
  const auto scaled = [](std::vector<float> v, int e) {
    for (float& x : v) x = std::ldexp(x, e);  // exact: bf16 and e4m3 * 2^k values stay on their grids
    return v;
  };
  const std::vector<float> ring_f = scaled(random_kv(size_t(n_seqs) * W, Dh, rope, seed + 1), c.kv_exp);
  const std::vector<float> comp_f = scaled(random_kv(size_t(n_seqs) * E, Dh, rope, seed + 2), c.kv_exp);
  std::vector<uint8_t> ring(ring_f.size() / Dh * layout.bytes()), comp(comp_f.size() / Dh * layout.bytes());
  for (size_t e = 0; e < ring_f.size() / Dh; ++e)
    gpu::encode_kv_entry(layout, std::span<const float>(ring_f).subspan(e * Dh, Dh),
                         std::span<uint8_t>(ring).subspan(e * layout.bytes(), layout.bytes()));
  for (size_t e = 0; e < comp_f.size() / Dh; ++e)
    gpu::encode_kv_entry(layout, std::span<const float>(comp_f).subspan(e * Dh, Dh),
                         std::span<uint8_t>(comp).subspan(e * layout.bytes(), layout.bytes()));
  const std::vector<float> kv = scaled(random_kv(max_rows, Dh, rope, seed + 3), c.kv_exp);
  const std::vector<float> q = scaled(random_bf16(size_t(max_rows) * H * Dh, seed + 4), c.q_exp);
  const std::vector<float> sink = random_bf16(H, seed + 5);
  // The indexer's selection: min(TK, visible) distinct visible entries in random order, then -1.
  std::vector<int32_t> sel(size_t(max_rows) * TK, -1);
  std::mt19937 rng(seed + 6);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<int32_t> all(size_t(graph::visible_compressed(rows[r].pos, 4)));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    for (size_t j = 0; j < std::min<size_t>(TK, all.size()); ++j) sel[r * TK + j] = all[j];
  }

  vk::Buffer qb = upload(q, "q"), kb = upload(kv, "kv"), rb = upload(ring, "ring"), cb = upload(comp, "compressed");
  vk::Buffer ib = upload(sel, "index_sel"), skb = upload(sink, "attn_sink");
  vk::Buffer ob = zeros(size_t(max_rows) * H * Dh * 4);
  gpu::SparseAttentionArgs a;
  a.step = sb.step.range();
  a.rope = sb.rope.range();
  a.q = qb.range();
  a.kv = kb.range();
  a.ring = rb.range();
  a.compressed = cb.range();
  a.index_sel = ib.range();
  a.attn_sink = skb.range();
  a.o = ob.range();
  a.max_rows = max_rows;
  a.n_heads = H;
  a.head_dim = Dh;
  a.rope_dim = rope;
  a.window = W;
  a.ratio = c.ratio;
  a.entries_per_seq = E;
  a.index_topk = TK;
  a.n_splits = n_splits;
  a.rope_slot = slots.at_pos(c.ratio);
  a.offset_alignment = uint32_t(device().caps().min_storage_buffer_offset_alignment);
  a.keep_scores = keep_scores;
  a.coopmat = coopmat;
  // NaN-filled, not zeros: a pass that read a partial no dispatch wrote (a split the row's keys
  // leave unused) would poison the output.
  const std::vector<float> stale(gpu::sparse_attention_scratch_bytes(a) / 4, std::numeric_limits<float>::quiet_NaN());
  vk::Buffer scratch = upload(stale, "scratch");
  a.scratch = scratch.range();
  std::vector<vk::Dispatch> d;
  gpu::encode_sparse_attention(ctx(), a, d);
  run(std::move(d));
  const std::vector<float> got = download<float>(ob, size_t(max_rows) * H * Dh);

  // Reference: CpuExecutor::sparse_attention's key rule, sparse_attention_head, attn_output's
  // inverse RoPE.
  std::vector<float> want(got.size(), 0.f);
  const float scale = float(1.0 / std::sqrt(double(Dh)));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t pos = rows[r].pos, seq = rows[r].seq, chunk_start = pos - int64_t(r) + rows[r].first_row;
    std::vector<const float*> keys;
    for (int64_t p = graph::window_start(pos, W); p <= pos; ++p)
      keys.push_back(p < chunk_start ? ring_f.data() + (size_t(seq) * W + size_t(p % W)) * Dh
                                     : kv.data() + (size_t(rows[r].first_row) + size_t(p - chunk_start)) * Dh);
    const float* cache = comp_f.data() + size_t(seq) * E * Dh;
    if (c.ratio == 4) {
      for (uint32_t j = 0; j < TK; ++j)
        if (sel[r * TK + j] >= 0) keys.push_back(cache + size_t(sel[r * TK + j]) * Dh);
    } else if (c.ratio > 0) {
      for (int64_t e = 0; e < graph::visible_compressed(pos, c.ratio); ++e) keys.push_back(cache + size_t(e) * Dh);
    }
    for (uint32_t h = 0; h < H; ++h) {
      std::span<float> out(want.data() + (r * H + h) * Dh, Dh);
      graph::sparse_attention_head(std::span<const float>(q).subspan((r * H + h) * Dh, Dh), keys, scale, sink[h], out);
      graph::apply_rope(table_for(slots, c.ratio), out, pos, true);
    }
  }
  expect_close(compare_rows(got, want, rows.size() * H, Dh), c.name);
  for (size_t i = rows.size() * H * Dh; i < got.size(); ++i) ASSERT_EQ(got[i], 0.f) << "row past n_rows written";
}

const AttnCase kCases[] = {
    // Batched decode, window only: position 0 (a single key), inside and past the window.
    {"window only, batched decode", 0, {{0, 0, 1}, {2, 5, 1}, {1, 20, 1}}},
    // CSA: a prefill chunk longer than the window (early rows read the ring, later ones only
    // the chunk) next to a decode row whose selection is shorter than topk (-1 padding).
    {"csa, prefill chunk + decode", 4, {{1, 30, 12}, {0, 9, 1}}},
    // HCA ratio 8: before and at the first emission (positions 6, 7), a long context, and a
    // prefill chunk from position 0 crossing the first emission.
    {"hca ratio 8", 8, {{0, 6, 1}, {1, 7, 1}, {2, 300, 1}, {3, 0, 10}}, 4, 64, 6, 48},
    // The ratio-128 boundary: 0, 1, 1, 1, 2 visible entries.
    {"hca ratio 128", 128, {{0, 126, 1}, {1, 127, 1}, {2, 128, 1}, {3, 254, 1}, {4, 255, 2}}},
    // Two head groups (the second partial), head_dim 96 (nope 80: a short FP8 block).
    {"12 heads, head_dim 96", 8, {{0, 50, 3}, {1, 13, 1}}, 12, 96, 6, 48},
    // The V4 head shape (512 = 448 nope + 64 rope: every thread's four dims in use).
    {"head_dim 512, rope 64", 4, {{0, 40, 2}, {1, 3, 1}}, 8, 512, 6, 16, 64},
};

// Keys near 2^40 and queries near 2^-40 (the same scores), and the other way round: far from 1 in
// both directions (scores_coopmat.comp scales each 64-dim chunk into fp16 and back).
const AttnCase kScaledCases[] = {
    {"keys 2^40", 4, {{1, 30, 12}, {0, 9, 1}}, 8, 512, 6, 16, 64, 40, -40},
    {"keys 2^-40", 8, {{0, 50, 3}, {1, 13, 1}}, 12, 96, 6, 48, 16, -40, 40},
};

TEST_F(SparseAttentionTest, OneSplit) {
  for (const AttnCase& c : kCases) check(c, 1);
}

TEST_F(SparseAttentionTest, SplitKeysMerge) {
  for (const AttnCase& c : kCases) check(c, 3);
}

TEST_F(SparseAttentionTest, KeptScores) {  // the decode variant: the second pass reads the first's scores
  for (const AttnCase& c : kCases) check(c, 2, true);
  check(kCases[1], 1, true);
  // decode_scores.comp's tiling: 20 heads (a second, partial 16-head group) and 8 + 75 keys (two
  // full 32-key tiles and a partial one), with a short row beside the long one.
  const AttnCase tiles{"20 heads, 83 keys", 8, {{0, 600, 1}, {1, 37, 1}}, 20, 64, 6, 96};
  check(tiles, 1, true);
  check(tiles, 5, true);
  for (const AttnCase& c : kScaledCases) check(c, 1, true);
}

// Prefill's scores and (one split) P.V where the device has coopmat: scores_coopmat.comp, pv_coopmat.comp.
TEST_F(SparseAttentionTest, KeptScoresOnCooperativeMatrices) {
  if (!gpu::attention_coopmat(ctx())) GTEST_SKIP() << "no coopmat attention scores on " << device().caps().name;
  for (const AttnCase& c : kCases) check(c, 1, true, true);
  // The coopmat kernels' tiling: 70 heads (a second, partial 64-head group), 8 + 150 keys (two
  // full 64-key workgroups and a partial one; five 32-key chunks of P.V, the last partial), 64 dims
  // (half of P.V's 128), a short row beside the long one.
  check({"70 heads, 158 keys", 8, {{0, 1200, 1}, {1, 37, 2}}, 70, 64, 6, 160}, 1, true, true);
  for (const AttnCase& c : kScaledCases) check(c, 1, true, true);
  check(kCases[1], 3, true, true);  // several splits: coopmat scores, then decode_pv and the merge
}

TEST_F(SparseAttentionTest, MoreSplitsThanKeys) {
  check(kCases[0], 16);  // splits with no keys contribute nothing
  check(kCases[0], 64, true);  // the decode variant: unused splits write only their -inf max
}

TEST(AttentionHostTest, SplitsAndKeys) {
  EXPECT_EQ(gpu::max_attention_keys(128, 4, 512, 9999), 640u);
  EXPECT_EQ(gpu::max_attention_keys(128, 128, 512, 8192), 8320u);
  EXPECT_EQ(gpu::max_attention_keys(128, 0, 512, 8192), 128u);
  EXPECT_EQ(gpu::attention_splits(8), 1u);  // one 8-key tile per split
  EXPECT_EQ(gpu::attention_splits(16), 2u);
  EXPECT_EQ(gpu::attention_splits(128), 16u);
  EXPECT_EQ(gpu::attention_splits(640), 80u);
  EXPECT_EQ(gpu::attention_splits(8320), 256u);
  EXPECT_EQ(gpu::attention_splits(1 << 20), 256u);
}

}  // namespace
}  // namespace dsv4::test
