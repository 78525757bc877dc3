// Lightning-indexer scoring and selection (model-spec §3.5.5): ReLU per head before the weighted
// head sum, bf16 scores, top-min(TK, visible) with ties to the lower index.
#include <gtest/gtest.h>

#include <vector>

#include "graph/indexer.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

TEST(IndexScores, ReluPerHeadThenWeightedSum) {
  // 2 heads x dim 2; keys k0 = [1, 0], k1 = [0, 1], k2 (not visible).
  // q head 0 = [3, -2], head 1 = [-1, 5]; w = [0.5, 2].
  // c0: h0 dot 3 -> 3*0.5 = 1.5; h1 dot -1 -> ReLU 0.  -> 1.5
  // c1: h0 dot -2 -> 0; h1 dot 5 -> 10.                -> 10
  const std::vector<float> q = {3.f, -2.f, -1.f, 5.f}, w = {0.5f, 2.f};
  const std::vector<float> keys = {1.f, 0.f, 0.f, 1.f, 7.f, 7.f};
  const std::vector<float> s = index_scores(q, w, keys, 2, 2);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], 1.5f);
  EXPECT_EQ(s[1], 10.f);
}

TEST(IndexScores, ScoresAreBf16) {
  const std::vector<float> q = {1.f}, w = {1.f}, keys = {1.00390625f};  // 1 + 2^-8: bf16 tie -> 1
  const std::vector<float> s = index_scores(q, w, keys, 1, 1);
  EXPECT_EQ(s[0], formats::round_bf16(1.00390625f));
  EXPECT_EQ(s[0], 1.f);
}

TEST(TopK, BestFirstTiesToLowerIndex) {
  const std::vector<float> v = {1.f, 5.f, 3.f, 5.f, -1.f};
  EXPECT_EQ(topk_indices(v, 3), (std::vector<int64_t>{1, 3, 2}));
  EXPECT_EQ(topk_indices(v, 10).size(), 5u);  // k larger than the visible set: all of them
  EXPECT_TRUE(topk_indices(v, 0).empty());
}

}  // namespace
}  // namespace dsv4::graph
