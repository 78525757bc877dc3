// encode_indexer_query and encode_indexer_topk against the CPU reference (CpuExecutor::
// indexer_query's RoPE + Hadamard + FP4 steps, graph::index_scores, graph::topk_indices).
// Every step of both kernels is exact or one rounding of the same fp32 value computed in the same
// order (dots and head sums in order, no contraction), so queries, scores and selections are
// asserted bit-exact: no near-tie can swap when the scores themselves are identical.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>

#include "gpu/common/gpu_test_helpers.h"
#include "graph/indexer.h"
#include "graph/quant.h"
#include "graph/rope.h"
#include "graph/vulkan/cache_layout.h"
#include "graph/vulkan/indexer.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

constexpr int64_t kRope = 16;

ModelConfig small_config() {
  ModelConfig cfg;
  cfg.rope_head_dim = kRope;
  cfg.compress_ratios = {4, 128};
  return cfg;
}

using IndexerQueryTest = GpuOpTest;

TEST_F(IndexerQueryTest, RopeHadamardFp4MatchReferenceBitForBit) {
  const ModelConfig cfg = small_config();
  const gpu::RopeSlots slots(cfg);
  for (const int64_t dim : {32, 128}) {
    const int64_t heads = 4;
    const uint32_t max_rows = 8;
    std::vector<gpu::StepRow> rows;
    gpu::append_rows(rows, 0, std::vector<int64_t>(3, 1), 0);      // prefill 0..2
    gpu::append_rows(rows, 70000, std::vector<int64_t>(1, 1), 1);  // a long-context decode row
    gpu::append_rows(rows, 517, std::vector<int64_t>(2, 1), 2);
    StepBuffers sb = make_step(device(), staging(), rows, max_rows, slots);
    std::vector<float> q = random_bf16(size_t(max_rows * heads * dim), uint32_t(dim), 2.f);
    vk::Buffer qb = upload(q, "q");
    gpu::IndexerQueryArgs a{sb.step.range(), sb.rope.range(), qb.range(), heads, dim, kRope, slots.at_pos(4), max_rows};
    std::vector<vk::Dispatch> ds;
    gpu::encode_indexer_query(ctx(), a, ds);
    run(std::move(ds));
    const std::vector<float> got = download<float>(qb, q.size());
    std::vector<float> want = q;  // rows >= n_rows stay untouched
    for (size_t r = 0; r < rows.size(); ++r)
      for (int64_t h = 0; h < heads; ++h) {
        std::span<float> head(want.data() + (int64_t(r) * heads + h) * dim, size_t(dim));
        graph::apply_rope(slots.yarn(), head, rows[r].pos);
        graph::hadamard_rotate(head);
        graph::fp4_roundtrip(head, 32);
      }
    int bad = 0;
    for (size_t i = 0; i < want.size(); ++i)
      if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i]) && ++bad <= 5)
        ADD_FAILURE() << "dim " << dim << " value " << i << ": gpu " << got[i] << " cpu " << want[i];
    EXPECT_EQ(bad, 0);
  }
}

// Index keys of `seqs` slots as the reference holds them (FP4 round-trip values) and natively.
struct Keys {
  std::vector<std::vector<float>> values;  // per slot [max_entries, dim]
  std::vector<uint8_t> bytes;              // [seqs][max_entries][entry]
};

Keys random_keys(int64_t seqs, int64_t max_entries, int64_t dim, uint32_t seed) {
  const gpu::IndexEntryLayout layout{uint32_t(dim)};
  Keys k;
  k.bytes.assign(size_t(seqs * max_entries) * layout.bytes(), 0);
  for (int64_t s = 0; s < seqs; ++s) {
    std::vector<float> v = random_bf16(size_t(max_entries * dim), seed + uint32_t(s), 1.f);
    graph::fp4_roundtrip(v, 32);
    k.values.push_back(std::move(v));
  }
  return k;
}

void encode_keys(Keys& k, int64_t max_entries, int64_t dim) {
  const gpu::IndexEntryLayout layout{uint32_t(dim)};
  for (size_t s = 0; s < k.values.size(); ++s)
    for (int64_t e = 0; e < max_entries; ++e)
      gpu::encode_index_entry(layout, std::span<const float>(k.values[s]).subspan(size_t(e * dim), size_t(dim)),
                              std::span<uint8_t>(k.bytes).subspan(
                                  gpu::entry_offset(uint32_t(s), uint64_t(e), uint64_t(max_entries), layout.bytes()),
                                  layout.bytes()));
}

struct TopkCase {
  int64_t heads, dim, topk, max_entries;
  std::vector<gpu::StepRow> rows;
  uint32_t max_rows;
};

class IndexerTopkTest : public GpuOpTest {
 protected:
  // Runs scores + top-k for `c` over keys `k`; checks scores and selections against the reference.
  void check(const TopkCase& c, Keys& k, uint32_t seed) {
    encode_keys(k, c.max_entries, c.dim);
    std::vector<float> q = random_bf16(size_t(c.max_rows * c.heads * c.dim), seed, 1.f);
    graph::fp4_roundtrip(q, 32);  // the queries are FP4 round-trips (encode_indexer_query)
    std::vector<float> w = random_bf16(size_t(c.max_rows * c.heads), seed + 1, 0.5f);
    const ModelConfig cfg = small_config();
    const gpu::RopeSlots slots(cfg);
    StepBuffers sb = make_step(device(), staging(), c.rows, c.max_rows, slots);
    vk::Buffer qb = upload(q, "q"), wb = upload(w, "w"), kb = upload(k.bytes, "index keys");
    vk::Buffer scores = zeros(gpu::indexer_scores_bytes(c.max_rows, c.max_entries), "scores");
    vk::Buffer sel = zeros(uint64_t(c.max_rows * c.topk) * 4, "index_sel");
    gpu::IndexerTopkArgs a;
    a.step = sb.step.range();
    a.q = qb.range();
    a.w = wb.range();
    a.index_keys = kb.range();
    a.scores = scores.range();
    a.index_sel = sel.range();
    a.heads = c.heads;
    a.dim = c.dim;
    a.ratio = 4;
    a.topk = c.topk;
    a.max_entries = c.max_entries;
    a.max_rows = c.max_rows;
    std::vector<vk::Dispatch> ds;
    gpu::encode_indexer_topk(ctx(), a, ds);
    run(std::move(ds));
    const std::vector<float> got_scores = download<float>(scores, size_t(c.max_rows * c.max_entries));
    const std::vector<int32_t> got_sel = download<int32_t>(sel, size_t(c.max_rows * c.topk));
    for (size_t r = 0; r < c.rows.size(); ++r) {
      const int64_t visible = std::min<int64_t>((c.rows[r].pos + 1) / 4, c.max_entries);
      const std::span<const float> qr(q.data() + r * size_t(c.heads * c.dim), size_t(c.heads * c.dim));
      const std::span<const float> wr(w.data() + r * size_t(c.heads), size_t(c.heads));
      const std::vector<float> want = graph::index_scores(qr, wr, k.values[size_t(c.rows[r].seq)], c.dim, visible);
      int bad = 0;
      for (int64_t e = 0; e < visible; ++e) {
        const float g = got_scores[r * size_t(c.max_entries) + size_t(e)];
        if (std::bit_cast<uint32_t>(g) != std::bit_cast<uint32_t>(want[size_t(e)]) && ++bad <= 5)
          ADD_FAILURE() << "row " << r << " entry " << e << ": gpu score " << g << " cpu " << want[size_t(e)];
      }
      EXPECT_EQ(bad, 0) << "row " << r;
      const std::vector<int64_t> best = graph::topk_indices(want, std::min(c.topk, visible));
      for (int64_t i = 0; i < c.topk; ++i) {
        const int64_t expect = i < int64_t(best.size()) ? best[size_t(i)] : -1;
        EXPECT_EQ(got_sel[r * size_t(c.topk) + size_t(i)], expect) << "row " << r << " (pos " << c.rows[r].pos
                                                                   << ", visible " << visible << ") rank " << i;
      }
    }
  }
};

TEST_F(IndexerTopkTest, FewerVisibleEntriesThanTopk) {
  TopkCase c{4, 32, 8, 64, {}, 9};
  // Rows: no entry visible yet (pos 0..2), 1 visible (pos 3), 3 visible, a prefill run crossing
  // topk, a second slot, and a position past the cache (visible clamps to max_entries); the last
  // max_rows slot is unused (n_rows < max_rows).
  for (int32_t p : {0, 2, 3, 11}) c.rows.push_back({1, p, 0, int32_t(c.rows.size())});
  gpu::append_rows(c.rows, 29, std::vector<int64_t>(2, 1), 1);
  gpu::append_rows(c.rows, 40, std::vector<int64_t>(1, 1), 2);
  gpu::append_rows(c.rows, 400, std::vector<int64_t>(1, 1), 2);
  Keys k = random_keys(3, c.max_entries, c.dim, 77);
  check(c, k, 5);
}

TEST_F(IndexerTopkTest, ExactTiesGoToTheLowerIndex) {
  TopkCase c{4, 32, 8, 256, {}, 4};
  Keys k = random_keys(3, c.max_entries, c.dim, 91);
  // Slot 0: every key identical (all scores tie). Slot 1: 5 distinct keys repeated (ties across
  // the k-th place). Slot 2: all-zero keys (scores 0 after ReLU) except a few.
  for (int64_t e = 1; e < c.max_entries; ++e)
    std::copy_n(k.values[0].begin(), c.dim, k.values[0].begin() + e * c.dim);
  for (int64_t e = 5; e < c.max_entries; ++e)
    std::copy_n(k.values[1].begin() + (e % 5) * c.dim, c.dim, k.values[1].begin() + e * c.dim);
  std::fill(k.values[2].begin() + 3 * c.dim, k.values[2].end(), 0.f);
  gpu::append_rows(c.rows, 1000, std::vector<int64_t>(1, 1), 0);
  gpu::append_rows(c.rows, 900, std::vector<int64_t>(1, 1), 1);
  gpu::append_rows(c.rows, 1023, std::vector<int64_t>(1, 1), 2);
  check(c, k, 6);
}

TEST_F(IndexerTopkTest, LargeEntryCountSelection) {
  // About 20,000 visible entries: the histogram threshold, the tie ranks over 256 runs and a rank sort
  // of 512 survivors (more than a workgroup) all matter here.
  TopkCase c{4, 32, 512, 20480, {}, 3};
  gpu::append_rows(c.rows, 80003, std::vector<int64_t>(1, 1), 0);  // 20,001 visible
  gpu::append_rows(c.rows, 41000, std::vector<int64_t>(2, 1), 1);
  Keys k = random_keys(2, c.max_entries, c.dim, 123);
  check(c, k, 7);
}

TEST_F(IndexerTopkTest, ScoreWorkgroupsWalkSeveralKeyTiles) {
  // 64 heads: 16-key tiles, and 20,001 visible keys make 1,251 tiles for at most 1,024 score
  // workgroups, so some workgroups score a second tile with the queries they loaded once.
  TopkCase c{64, 32, 16, 20480, {}, 1};
  gpu::append_rows(c.rows, 80003, std::vector<int64_t>(1, 1), 0);
  Keys k = random_keys(1, c.max_entries, c.dim, 555);
  check(c, k, 10);
}

TEST_F(IndexerTopkTest, TopkNotAPowerOfTwo) {
  // The survivors' bitonic sort runs over the next power of two (16 for 12): padding must sort
  // after every real survivor, including a row whose scores all tie.
  TopkCase c{4, 32, 12, 512, {}, 3};
  gpu::append_rows(c.rows, 2047, std::vector<int64_t>(1, 1), 0);  // 512 visible
  gpu::append_rows(c.rows, 40, std::vector<int64_t>(1, 1), 1);    // 10 visible: fewer than topk
  gpu::append_rows(c.rows, 1500, std::vector<int64_t>(1, 1), 2);
  Keys k = random_keys(3, c.max_entries, c.dim, 4242);
  for (int64_t e = 1; e < c.max_entries; ++e)
    std::copy_n(k.values[2].begin(), c.dim, k.values[2].begin() + e * c.dim);
  check(c, k, 11);
}

TEST_F(IndexerTopkTest, LargeEntryCountSmallTopk) {
  TopkCase c{4, 32, 8, 20480, {}, 2};
  gpu::append_rows(c.rows, 79999, std::vector<int64_t>(1, 1), 0);
  gpu::append_rows(c.rows, 60001, std::vector<int64_t>(1, 1), 1);
  Keys k = random_keys(2, c.max_entries, c.dim, 321);
  check(c, k, 8);
}

}  // namespace
}  // namespace dsv4::test
