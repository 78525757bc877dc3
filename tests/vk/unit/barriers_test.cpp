// Barrier derivation from declared accesses: hand-derived hazard cases.
#include <gtest/gtest.h>

#include <algorithm>

#include "vk/barriers.h"

namespace dsv4::vk {
namespace {

BufferAccess R(uint64_t buf, uint64_t off, uint64_t size) { return {buf, off, size, false, false}; }
BufferAccess W(uint64_t buf, uint64_t off, uint64_t size) { return {buf, off, size, true, false}; }
BufferAccess Ind(uint64_t buf, uint64_t off) { return {buf, off, 12, false, true}; }

std::vector<bool> needed(const std::vector<std::vector<BufferAccess>>& d) {
  std::vector<bool> out;
  for (const BarrierPoint& p : plan_barriers(d)) out.push_back(p.needed);
  return out;
}

TEST(Barriers, ChainNeedsABarrierBeforeEachConsumer) {
  // A: x -> y, B: y -> z, C: z -> w
  EXPECT_EQ(needed({{R(1, 0, 64), W(2, 0, 64)}, {R(2, 0, 64), W(3, 0, 64)}, {R(3, 0, 64), W(4, 0, 64)}}),
            (std::vector<bool>{false, true, true}));
}

TEST(Barriers, IndependentDispatchesShareNoBarrier) {
  EXPECT_EQ(needed({{R(1, 0, 64), W(2, 0, 64)}, {R(1, 0, 64), W(3, 0, 64)}, {R(1, 0, 64), W(2, 64, 64)}}),
            (std::vector<bool>{false, false, false}));
}

TEST(Barriers, ReadAfterReadIsNoHazard) {
  EXPECT_EQ(needed({{R(1, 0, 64)}, {R(1, 0, 64)}}), (std::vector<bool>{false, false}));
}

TEST(Barriers, WriteAfterWrite) {
  EXPECT_EQ(needed({{W(1, 0, 64)}, {W(1, 32, 64)}}), (std::vector<bool>{false, true}));
}

TEST(Barriers, WriteAfterRead) {
  EXPECT_EQ(needed({{R(1, 0, 64), W(2, 0, 4)}, {W(1, 60, 8)}}), (std::vector<bool>{false, true}));
}

TEST(Barriers, AdjacentRangesDoNotOverlap) {
  EXPECT_EQ(needed({{W(1, 0, 64)}, {R(1, 64, 64)}}), (std::vector<bool>{false, false}));
  EXPECT_EQ(needed({{W(1, 0, 64)}, {R(1, 63, 64)}}), (std::vector<bool>{false, true}));
}

TEST(Barriers, ABarrierResetsThePendingSets) {
  // C reads what A wrote, but B's barrier already ordered A before everything after it.
  EXPECT_EQ(needed({{W(1, 0, 64)}, {R(1, 0, 64), W(2, 0, 64)}, {R(1, 0, 64), W(3, 0, 64)}}),
            (std::vector<bool>{false, true, false}));
  // ... while a write after the barrier is tracked again.
  EXPECT_EQ(needed({{W(1, 0, 64)}, {R(1, 0, 64), W(2, 0, 64)}, {R(2, 0, 64)}}),
            (std::vector<bool>{false, true, true}));
}

TEST(Barriers, IndirectArgumentsWrittenByAKernel) {
  const auto plan = plan_barriers({{W(9, 0, 12)}, {Ind(9, 0), W(2, 0, 64)}, {R(1, 0, 4), W(3, 0, 4)}});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_FALSE(plan[0].needed);
  EXPECT_TRUE(plan[1].needed);
  EXPECT_TRUE(plan[1].indirect);
  EXPECT_FALSE(plan[2].needed);
  EXPECT_FALSE(plan[2].indirect);
}

TEST(Barriers, EmptyRangesNeverConflict) {
  EXPECT_FALSE(overlaps(W(1, 0, 0), W(1, 0, 64)));
  EXPECT_TRUE(overlaps(W(1, 0, 1), W(1, 0, 64)));
  EXPECT_FALSE(overlaps(W(1, 0, 64), W(2, 0, 64)));
}

// Level ordering: hand-derived permutations, and the property that makes it safe: every pair of
// conflicting dispatches keeps its order (checked over random access lists).
size_t barriers_after(const std::vector<std::vector<BufferAccess>>& d, const std::vector<size_t>& order) {
  std::vector<std::vector<BufferAccess>> r;
  for (size_t i : order) r.push_back(d[i]);
  size_t n = 0;
  for (const BarrierPoint& p : plan_barriers(r)) n += p.needed;
  return n;
}

bool conflict(const std::vector<BufferAccess>& a, const std::vector<BufferAccess>& b) {
  for (const BufferAccess& x : a)
    for (const BufferAccess& y : b)
      if ((x.write || y.write) && overlaps(x, y)) return true;
  return false;
}

TEST(LevelOrder, IndependentChainsInterleave) {
  // Two chains of two (A0 -> A1 on buffers 1..3, B0 -> B1 on 4..6): in op order a barrier before
  // A1 and before B1; side by side (A0 B0 | A1 B1) one.
  const std::vector<std::vector<BufferAccess>> d = {{R(1, 0, 64), W(2, 0, 64)}, {R(2, 0, 64), W(3, 0, 64)},
                                                    {R(4, 0, 64), W(5, 0, 64)}, {R(5, 0, 64), W(6, 0, 64)}};
  const std::vector<size_t> order = level_order(d);
  EXPECT_EQ(order, (std::vector<size_t>{0, 2, 1, 3}));
  EXPECT_EQ(barriers_after(d, {0, 1, 2, 3}), 2u);
  EXPECT_EQ(barriers_after(d, order), 1u);
}

TEST(LevelOrder, WriteAfterReadKeepsTheReaderFirst) {
  // C overwrites what A reads; B is independent of both: C may not move above A.
  const std::vector<std::vector<BufferAccess>> d = {{R(1, 0, 64), W(2, 0, 64)}, {R(7, 0, 64), W(8, 0, 64)},
                                                    {W(1, 0, 64)}};
  EXPECT_EQ(level_order(d), (std::vector<size_t>{0, 1, 2}));
  // A later reader of C's write goes after C.
  const std::vector<std::vector<BufferAccess>> e = {{R(1, 0, 64), W(2, 0, 64)}, {W(1, 0, 64)}, {R(1, 0, 64), W(3, 0, 64)},
                                                    {R(9, 0, 64), W(10, 0, 64)}};
  EXPECT_EQ(level_order(e), (std::vector<size_t>{0, 3, 1, 2}));
}

TEST(LevelOrder, ReadersOfOneInputShareALevel) {
  const std::vector<std::vector<BufferAccess>> d = {{W(1, 0, 64)}, {R(1, 0, 64), W(2, 0, 64)}, {R(2, 0, 64), W(3, 0, 64)},
                                                    {R(1, 0, 64), W(4, 0, 64)}, {R(1, 0, 64), W(5, 0, 64)}};
  EXPECT_EQ(level_order(d), (std::vector<size_t>{0, 1, 3, 4, 2}));
}

TEST(LevelOrder, ConflictingPairsKeepTheirOrderOnRandomLists) {
  uint64_t state = 12345;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::vector<BufferAccess>> d(2 + next(30));
    for (auto& acc : d)
      for (uint64_t k = 0, n = 1 + next(4); k < n; ++k) {
        const uint64_t off = next(8) * 16, size = 16 * (1 + next(3));
        acc.push_back(next(3) == 0 ? W(1 + next(4), off, size) : R(1 + next(4), off, size));
      }
    const std::vector<size_t> order = level_order(d);
    std::vector<size_t> pos(d.size());
    for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = i;
    std::vector<size_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], i) << "not a permutation";
    for (size_t i = 0; i < d.size(); ++i)
      for (size_t j = i + 1; j < d.size(); ++j)
        if (conflict(d[i], d[j])) {
          ASSERT_LT(pos[i], pos[j]) << "trial " << trial << ": " << i << " and " << j;
        }
    EXPECT_LE(barriers_after(d, order), barriers_after(d, [&] {
                std::vector<size_t> id(d.size());
                for (size_t i = 0; i < id.size(); ++i) id[i] = i;
                return id;
              }()));
  }
}

}  // namespace
}  // namespace dsv4::vk
