// The published fixture tests/data/tiny-a: expected logits for P = 1 and P = 20 from an independent
// implementation of the official code, matched within the README's four tolerances, through the
// Session API and through `dsv4 eval --backend cpu` (the interface outside checks call).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#include "graph/model_metrics.h"
#include "graph/model_weights.h"
#include "graph/npy.h"
#include "graph/session.h"

namespace dsv4::graph {
namespace {

namespace fs = std::filesystem;
const std::string kDir = std::string(DSV4_TEST_DATA_DIR) + "/tiny-a";

// README tolerances.
void expect_within_tolerances(const testing::LogitMetrics& m, const std::string& what) {
  std::printf("%s: median rel %.4f, max rel %.4f, mean KL %.5f, max regret %.4f, top-1 %lld/%lld\n", what.c_str(),
              m.median_rel, m.max_rel, m.mean_kl, m.max_regret, (long long)m.top1_agree, (long long)m.rows);
  EXPECT_LE(m.median_rel, 0.097) << what;
  EXPECT_LE(m.max_rel, 0.44) << what;
  EXPECT_LE(m.mean_kl, 0.13) << what;
  EXPECT_LE(m.max_regret, 2.8) << what;
}

// Beyond the README bounds: this implementation follows the reference's rounding points and (where
// fp32 results reach a rounding unrounded) its summation order, so it reproduces the fixture to
// within stray one-quantum jumps (measured: median 0, max 0.017, mean KL 2e-4). A missing rounding
// point or an inexact reduction gives median ~0.035 here.
void expect_reproduces_the_reference(const testing::LogitMetrics& m, const std::string& what) {
  EXPECT_LE(m.median_rel, 1e-3) << what;
  EXPECT_LE(m.max_rel, 0.03) << what;
  EXPECT_LE(m.mean_kl, 1e-3) << what;
  EXPECT_EQ(m.top1_agree, m.rows) << what;
}

std::vector<float> run_session(const std::shared_ptr<const ModelWeights>& w, const std::vector<int64_t>& tokens,
                               int64_t prefill, int64_t chunk) {
  Session s(w, {.max_context = 0, .prefill_chunk = chunk});
  std::vector<float> rows = s.prefill(std::span<const int64_t>(tokens.data(), size_t(prefill)));
  for (size_t i = size_t(prefill); i < tokens.size(); ++i) {
    const std::vector<float> l = s.decode(tokens[i]);
    rows.insert(rows.end(), l.begin(), l.end());
  }
  return rows;
}

class TinyA : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { weights_ = std::make_shared<const ModelWeights>(load_model_weights(kDir)); }
  static void TearDownTestSuite() { weights_.reset(); }
  static std::shared_ptr<const ModelWeights> weights_;
  const std::vector<int64_t> tokens_ = testing::read_token_file(kDir + "/tokens.txt");
};
std::shared_ptr<const ModelWeights> TinyA::weights_;

TEST_F(TinyA, FixtureShapes) {
  ASSERT_EQ(tokens_.size(), 40u);
  EXPECT_EQ(read_npy(kDir + "/logits_p1.npy").rows, 40);
  EXPECT_EQ(read_npy(kDir + "/logits_p20.npy").rows, 21);
  EXPECT_EQ(weights_->cfg.vocab_size, 1024);
}

TEST_F(TinyA, SessionMatchesLogitsP1) {
  const NpyArray ref = read_npy(kDir + "/logits_p1.npy");
  const auto m = testing::compare_logits(ref.data, run_session(weights_, tokens_, 1, 0), ref.cols);
  expect_within_tolerances(m, "tiny-a P=1");
  expect_reproduces_the_reference(m, "tiny-a P=1");
  // Rows 0-11 cover the first compressed entries (ratio 4 from position 3), the window ring wrap
  // (position 8) and the indexer choosing among entries: every op there matches bit for bit.
  const auto head = testing::compare_logits(std::vector<float>(ref.data.begin(), ref.data.begin() + 12 * ref.cols),
                                            std::vector<float>(run_session(weights_, {tokens_.begin(), tokens_.begin() + 12}, 1, 0)),
                                            ref.cols);
  EXPECT_EQ(head.max_rel, 0.0);
}

TEST_F(TinyA, SessionMatchesLogitsP20) {
  const NpyArray ref = read_npy(kDir + "/logits_p20.npy");
  const auto one = testing::compare_logits(ref.data, run_session(weights_, tokens_, 20, 0), ref.cols);
  expect_within_tolerances(one, "tiny-a P=20");
  expect_reproduces_the_reference(one, "tiny-a P=20");
  const auto chunked = testing::compare_logits(ref.data, run_session(weights_, tokens_, 20, 6), ref.cols);
  expect_within_tolerances(chunked, "tiny-a P=20 chunk 6");
  expect_reproduces_the_reference(chunked, "tiny-a P=20 chunk 6");
}

std::string join(const std::vector<int64_t>& ids) {
  std::ostringstream s;
  for (size_t i = 0; i < ids.size(); ++i) s << (i ? "," : "") << ids[i];
  return s.str();
}

int run_cli(const std::string& args) {
  std::ostringstream cmd;
  cmd << DSV4_BINARY << " " << args;
  return std::system(cmd.str().c_str());
}

TEST_F(TinyA, EvalCliWritesTheFixtureRows) {
  std::ostringstream name;
  name << "dsv4_tiny_a_eval_" << ::getpid() << ".npy";
  const fs::path out = fs::temp_directory_path() / name.str();
  for (const auto& [p, chunk] : {std::pair{1, 0}, std::pair{20, 0}, std::pair{20, 7}}) {
    std::ostringstream cmd_text;  // (ostringstream: GCC 12's -Wrestrict misfires on string + chains)
    cmd_text << "eval --model " << kDir << " --tokens " << join(tokens_) << " --prefill " << p << " --dump-logits "
             << out.string() << " --backend cpu";
    if (chunk) cmd_text << " --chunk " << chunk;
    const std::string cmd = cmd_text.str();
    ASSERT_EQ(run_cli(cmd), 0) << cmd;
    const NpyArray got = read_npy(out);
    const NpyArray ref = read_npy(kDir + (p == 1 ? "/logits_p1.npy" : "/logits_p20.npy"));
    ASSERT_EQ(got.rows, ref.rows);
    ASSERT_EQ(got.cols, ref.cols);
    expect_within_tolerances(testing::compare_logits(ref.data, got.data, ref.cols), "dsv4 eval P=" + std::to_string(p));
    // The CLI is a thin wrapper: its rows are exactly the Session's.
    EXPECT_EQ(got.data, run_session(weights_, tokens_, p, chunk));
  }
  fs::remove(out);
}

TEST_F(TinyA, EvalCliRejectsBadInput) {
  const std::string base = std::string("eval --model ").append(kDir).append(" --dump-logits /dev/null --backend cpu");
  EXPECT_NE(run_cli(base + " --tokens 1,2,3 --prefill 0 2>/dev/null"), 0);
  EXPECT_NE(run_cli(base + " --tokens 1,2,3 --prefill 4 2>/dev/null"), 0);
  EXPECT_NE(run_cli(base + " --tokens 1,x,3 --prefill 1 2>/dev/null"), 0);
  EXPECT_NE(run_cli(base + " --tokens 1,5000 --prefill 1 2>/dev/null"), 0);  // outside the vocabulary
  EXPECT_NE(run_cli("eval --model /nonexistent --tokens 1 --prefill 1 --dump-logits /dev/null 2>/dev/null"), 0);
}

}  // namespace
}  // namespace dsv4::graph
