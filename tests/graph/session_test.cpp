// Session consistency (model-spec §3.9): one prefill == chunked prefill == token-by-token decode,
// at any chunk length and start position, on tiny-a and on synthetic models of every CPU-sized
// tiny preset (FP4 and FP8-expert Base variants); independent sessions do not interact. The small
// preset (ratio 128, needs > 128 tokens) is in slow/ (excluded from the ASan run).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>

#include "graph/model_metrics.h"
#include "graph/model_weights.h"
#include "graph/session.h"
#include "graph/session_helpers.h"

namespace dsv4::graph {
namespace {

using testing::run;
using testing::scratch_dir;
using testing::synthetic;
namespace fs = std::filesystem;

struct Model {
  std::string name;
  std::shared_ptr<const ModelWeights> weights;
};

// Each test runs in its own process (gtest_discover_tests), so a model is built only when used.
std::shared_ptr<const ModelWeights> make_model(int index) {
  switch (index) {
    case 0: return std::make_shared<const ModelWeights>(load_model_weights(std::string(DSV4_TEST_DATA_DIR) + "/tiny-a"));
    case 1: return synthetic("tiny", -1, ExpertDtype::FP4, 7);
    default: return synthetic("tiny", 3, ExpertDtype::FP8, 11);  // Base-style FP8 experts, F32 scales
  }
}
const char* const kModelNames[] = {"tiny-a", "tiny seed 7", "tiny fp8 experts"};

class Consistency : public ::testing::TestWithParam<int> {
 protected:
  static void TearDownTestSuite() { cache_.clear(); }
  static std::map<int, std::shared_ptr<const ModelWeights>> cache_;

  const std::shared_ptr<const ModelWeights>& weights() const {
    auto& w = cache_[GetParam()];
    if (!w) {
      w = make_model(GetParam());
      fs::remove_all(scratch_dir());
    }
    return w;
  }
  std::string name() const { return kModelNames[GetParam()]; }
  std::vector<int64_t> random_tokens(int64_t n, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int64_t> d(0, weights()->cfg.vocab_size - 1);
    std::vector<int64_t> t(static_cast<size_t>(n));
    for (auto& v : t) v = d(rng);
    return t;
  }
};
std::map<int, std::shared_ptr<const ModelWeights>> Consistency::cache_;

TEST_P(Consistency, PrefillChunkedPrefillAndDecodeAgree) {
  // Long enough for every compressor to emit (twice where cheap) and every ring to wrap.
  const ModelConfig& c = weights()->cfg;
  int64_t ratio_max = 0;
  for (int64_t r : c.compress_ratios) ratio_max = std::max(ratio_max, r);
  const int64_t n = std::max(2 * ratio_max, 2 * c.window_size) + 3;
  const std::vector<int64_t> t = random_tokens(n, 1234);
  const auto decode_only = run(weights(), t, 1, 0);
  for (const auto& [p, chunk] : {std::pair<size_t, int64_t>{size_t(n) - 1, 0}, {size_t(n) - 1, c.window_size + 3},
                                 {size_t(n / 2), 5}}) {
    const auto rows = run(weights(), t, p, chunk);
    // The mode-independent formulation makes these the same computation: exactly equal.
    for (size_t j = 0; j < rows.size(); ++j) {
      ASSERT_EQ(rows[j], decode_only[p - 1 + j]) << name() << " P=" << p << " chunk=" << chunk << " row " << j;
    }
  }
}

TEST_P(Consistency, IndependentSessionsDoNotInteract) {
  const std::vector<int64_t> a = random_tokens(12, 1), b = random_tokens(9, 2);
  const auto ref_a = run(weights(), a, 4, 0), ref_b = run(weights(), b, 2, 0);
  Session sa(weights()), sb(weights());
  EXPECT_EQ(sa.prefill(std::span<const int64_t>(a.data(), 4)), ref_a[0]);
  EXPECT_EQ(sb.prefill(std::span<const int64_t>(b.data(), 2)), ref_b[0]);
  for (size_t i = 0; i < 8; ++i) {  // interleaved decode steps
    EXPECT_EQ(sa.decode(a[4 + i]), ref_a[1 + i]);
    if (2 + i < b.size()) {
      EXPECT_EQ(sb.decode(b[2 + i]), ref_b[1 + i]);
    }
  }
  // reset() starts a fresh sequence on the same session.
  sa.reset();
  EXPECT_EQ(sa.position(), 0);
  EXPECT_EQ(sa.prefill(std::span<const int64_t>(b.data(), 2)), ref_b[0]);
}

TEST_P(Consistency, LogitsAreFiniteAndDistinct) {
  const std::vector<int64_t> t = random_tokens(6, 9);
  const auto rows = run(weights(), t, 3, 0);
  for (const auto& r : rows) {
    ASSERT_EQ(int64_t(r.size()), weights()->cfg.vocab_size);
    for (float v : r) ASSERT_TRUE(std::isfinite(v));
  }
  EXPECT_NE(rows[0], rows[1]);
}

INSTANTIATE_TEST_SUITE_P(Models, Consistency, ::testing::Range(0, 3));

TEST(SessionErrors, RejectsBadTokensAndContext) {
  auto w = std::make_shared<const ModelWeights>(load_model_weights(std::string(DSV4_TEST_DATA_DIR) + "/tiny-a"));
  Session s(w, {.max_context = 4, .prefill_chunk = 0});
  const std::vector<int64_t> bad = {1, 1024};
  EXPECT_THROW(s.prefill(bad), std::invalid_argument);
  EXPECT_THROW(s.decode(-1), std::invalid_argument);
  EXPECT_EQ(s.position(), 0);
  const std::vector<int64_t> ok = {0, 1, 2, 3};
  s.prefill(ok);
  EXPECT_THROW(s.decode(5), std::invalid_argument);  // would exceed max_context 4
  EXPECT_THROW(s.prefill(std::vector<int64_t>{}), std::invalid_argument);
}

}  // namespace
}  // namespace dsv4::graph
