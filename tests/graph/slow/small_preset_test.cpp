// Session consistency on the `small` preset (ratios 0, 4, 128; nope 128 != rope 64; 8 heads in 4
// output groups): a ratio-128 compressor only emits after 128 tokens, so this runs 131 tokens and
// is labelled slow (the ASan run skips it; the Release run keeps it).
#include <gtest/gtest.h>

#include <random>

#include "graph/session_helpers.h"

namespace dsv4::graph {
namespace {

TEST(SmallPreset, PrefillChunkedPrefillAndDecodeAgreeAcrossRatio128) {
  const auto w = testing::synthetic("small", 3, ExpertDtype::FP4, 5);
  std::filesystem::remove_all(testing::scratch_dir());
  ASSERT_EQ(w->cfg.ratio(2), 128);
  const int64_t n = 131;  // entry 0 of the ratio-128 layer appears at position 127
  std::mt19937 rng(1234);
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = int64_t(rng() % uint64_t(w->cfg.vocab_size));
  const auto decode_only = testing::run(w, t, 1, 0);
  const size_t p = size_t(n) - 1;
  const auto chunked = testing::run(w, t, p, w->cfg.window_size + 3);
  for (size_t j = 0; j < chunked.size(); ++j) ASSERT_EQ(chunked[j], decode_only[p - 1 + j]) << "row " << j;
  // Several sessions on the same weights, interleaved, reproduce their own runs.
  Session a(w), b(w);
  const std::vector<int64_t> ta(t.begin(), t.begin() + 5), tb(t.begin() + 7, t.begin() + 10);
  const auto ref_a = a.prefill(ta);
  const auto ref_b = b.prefill(tb);
  a.reset();
  EXPECT_EQ(b.decode(3), testing::run(w, {tb[0], tb[1], tb[2], 3}, 3, 0)[1]);
  EXPECT_EQ(a.prefill(ta), ref_a);
}

}  // namespace
}  // namespace dsv4::graph
