// The MTP block (model-spec §3.8) through Session::mtp_draft on tiny-a (its mtp.0 weights are in
// the fixture; the expected logits never run it): the same chunk/decode consistency as the main
// model, finite drafts, and clear errors when misused.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "graph/model_metrics.h"
#include "graph/model_weights.h"
#include "graph/session.h"

namespace dsv4::graph {
namespace {

const std::string kDir = std::string(DSV4_TEST_DATA_DIR) + "/tiny-a";

TEST(Mtp, DraftsAgreeBetweenPrefillAndDecode) {
  auto w = std::make_shared<const ModelWeights>(load_model_weights(kDir, /*with_mtp=*/true));
  const std::vector<int64_t> t = testing::read_token_file(kDir + "/tokens.txt");
  const size_t n = 20;  // > 2 x window 8: the MTP block's own ring wraps
  // Whole: prefill tokens[0:n-1], then draft with the next tokens tokens[1:n].
  Session whole(w);
  whole.prefill(std::span<const int64_t>(t.data(), n - 1));
  const std::vector<float> a = whole.mtp_draft(std::span<const int64_t>(t.data() + 1, n - 1));
  // Token by token, drafting after every step.
  Session steps(w, {.max_context = 0, .prefill_chunk = 0});
  std::vector<float> b;
  for (size_t i = 0; i + 1 < n; ++i) {
    steps.decode(t[i]);
    b = steps.mtp_draft(std::span<const int64_t>(t.data() + i + 1, 1));
  }
  ASSERT_EQ(int64_t(a.size()), w->cfg.vocab_size);
  EXPECT_EQ(a, b);
  for (float v : a) ASSERT_TRUE(std::isfinite(v));
  // The draft is not the main model's own prediction for that position.
  Session main_only(w);
  EXPECT_NE(main_only.prefill(std::span<const int64_t>(t.data(), n)), a);
}

TEST(Mtp, Misuse) {
  auto plain = std::make_shared<const ModelWeights>(load_model_weights(kDir));
  Session s(plain);
  const std::vector<int64_t> one = {5};
  s.decode(3);
  EXPECT_THROW(s.mtp_draft(one), std::logic_error);  // weights loaded without mtp.0

  auto w = std::make_shared<const ModelWeights>(load_model_weights(kDir, true));
  Session m(w);
  m.prefill(std::vector<int64_t>{0, 1, 2});
  EXPECT_THROW(m.mtp_draft(one), std::invalid_argument);  // 3 positions need 3 next tokens
  m.decode(3);
  EXPECT_THROW(m.mtp_draft(one), std::invalid_argument);  // the 3-token call was never drafted
}

}  // namespace
}  // namespace dsv4::graph
