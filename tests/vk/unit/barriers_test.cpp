// Barrier derivation from declared accesses: hand-derived hazard cases.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dsv4::vk
