// The VulkanExecutor end to end against the CPU reference (graph::Session) on synthetic models
// and the published tiny-a fixture: logits of chunked prefill and decode, greedy generation token
// for token, a single recording per step shape, validation clean over whole generations.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "graph/model_weights.h"
#include "graph/npy.h"
#include "graph/session.h"
#include "graph/vulkan/device_model.h"
#include "graph/vulkan/executor.h"
#include "graph/vulkan/generate.h"
#include "gpu/common/gpu_test_helpers.h"
#include "graph/model_metrics.h"
#include "weights/model_dir.h"
#include "weights/synthetic_model.h"

namespace dsv4::test {
namespace {

namespace fs = std::filesystem;
using graph::testing::compare_logits;
using graph::testing::LogitMetrics;

// The fixture README's tolerances: median / max relative error, mean KL, top-1 agreement.
void expect_close(const LogitMetrics& m, const std::string& what) {
  EXPECT_LE(m.median_rel, 0.097) << what;
  EXPECT_LE(m.max_rel, 0.44) << what;
  EXPECT_LE(m.mean_kl, 0.13) << what;
  EXPECT_GE(double(m.top1_agree), 0.9 * double(m.rows)) << what;
}

fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / ("dsv4_executor_test_" + std::to_string(::getpid())) / name;
}

fs::path synthetic_dir(const std::string& preset, int64_t layers, uint64_t seed, ExpertDtype experts = ExpertDtype::FP4) {
  SyntheticOptions o;
  o.preset = preset;
  o.layers = layers;
  o.seed = seed;
  o.experts = experts;
  const fs::path dir = scratch(preset + "_" + std::to_string(layers) + "_" + std::to_string(seed));
  if (!fs::exists(dir / "config.json")) write_synthetic_model(o, dir, true);
  return dir;
}

std::vector<int64_t> some_tokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int64_t(rng() % uint32_t(vocab));
  return t;
}

class ExecutorTest : public VulkanTest {
 protected:
  static void TearDownTestSuite() { fs::remove_all(scratch("")); }

  struct Gpu {
    std::shared_ptr<gpu::DeviceModel> model;
    std::unique_ptr<gpu::VulkanExecutor> ex;
  };
  Gpu open(const fs::path& dir, gpu::ExecutorOptions o) {
    const ModelDir md = open_model_dir(dir);
    Gpu g;
    g.model = std::make_shared<gpu::DeviceModel>(device(), md);
    g.ex = std::make_unique<gpu::VulkanExecutor>(device(), g.model, o);
    return g;
  }

  // Rows of logits: prefill tokens[0:p] in chunks, then decode the rest one by one.
  static std::vector<float> gpu_logits(gpu::VulkanExecutor& ex, const std::vector<int64_t>& t, size_t p) {
    std::vector<float> out;
    const size_t chunk = ex.options().prefill_chunk;
    for (size_t i = 0; i < p; i += chunk) {
      std::vector<gpu::StepRow> rows;
      for (size_t j = i; j < std::min(p, i + chunk); ++j) rows.push_back({int32_t(t[j]), int32_t(j), 0, 0});
      ex.step(rows, false);
    }
    auto keep = [&] {
      const std::vector<float> l = ex.logits(0);
      out.insert(out.end(), l.begin(), l.end());
    };
    keep();
    for (size_t i = p; i < t.size(); ++i) {
      const gpu::StepRow r{int32_t(t[i]), int32_t(i), 0, 0};
      ex.step(std::span<const gpu::StepRow>(&r, 1), false);
      keep();
    }
    return out;
  }
  static std::vector<float> cpu_logits(const fs::path& dir, const std::vector<int64_t>& t, size_t p, int64_t chunk) {
    auto w = std::make_shared<const graph::ModelWeights>(graph::load_model_weights(dir));
    graph::Session s(w, {.max_context = 0, .prefill_chunk = chunk});
    std::vector<float> out = s.prefill(std::span<const int64_t>(t.data(), p));
    for (size_t i = p; i < t.size(); ++i) {
      const std::vector<float> l = s.decode(t[i]);
      out.insert(out.end(), l.begin(), l.end());
    }
    return out;
  }
};

// tiny-a: the published fixture, P = 1 and P = 20 in chunks of 6 (every layer kind, ring wraps,
// first compressed emissions of ratio 4 and 16).
TEST_F(ExecutorTest, TinyAFixtureMatchesOnVulkan) {
  const fs::path dir = fs::path(DSV4_TEST_DATA_DIR) / "tiny-a";
  std::ifstream f(dir / "tokens.txt");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<int64_t> tokens;
  for (size_t i = 0; i < text.size();) {
    size_t used = 0;
    tokens.push_back(std::stoll(text.substr(i), &used));
    i += used;
    while (i < text.size() && (text[i] == ',' || std::isspace(uint8_t(text[i])))) ++i;
  }
  ASSERT_EQ(tokens.size(), 40u);
  for (int p : {1, 20}) {
    const graph::NpyArray ref = graph::read_npy(dir / ("logits_p" + std::to_string(p) + ".npy"));
    Gpu g = open(dir, {.max_context = 64, .max_seqs = 1, .prefill_chunk = p == 1 ? 1u : 6u});
    const std::vector<float> got = gpu_logits(*g.ex, tokens, size_t(p));
    const LogitMetrics m = compare_logits(ref.data, got, ref.cols);
    expect_close(m, "tiny-a P=" + std::to_string(p));
    RecordProperty("median_rel_p" + std::to_string(p), std::to_string(m.median_rel));
    EXPECT_LE(g.ex->stats().recordings, 2u);  // one decode shape, one prefill shape
  }
}

// Synthetic tiny (FP4 experts, their decode GEMVs on 4-byte and on 16-byte loads) and a Base-style
// model (FP8 experts, F32 scales): prefill chunks that cross the window and compressed emissions,
// then decode, vs the CPU session.
TEST_F(ExecutorTest, SyntheticModelsMatchTheCpuReference) {
  for (const auto& [e, wide] : {std::pair{ExpertDtype::FP4, false}, {ExpertDtype::FP8, false}, {ExpertDtype::FP4, true}}) {
    const fs::path dir = synthetic_dir("tiny", 5, 11, e);
    const std::vector<int64_t> t = some_tokens(48, 1024, 3);
    Gpu g = open(dir, {.max_context = 64, .max_seqs = 1, .prefill_chunk = 13, .fp4_wide_gemv = wide});
    const std::vector<float> got = gpu_logits(*g.ex, t, 30);
    const std::vector<float> ref = cpu_logits(dir, t, 30, 13);
    expect_close(compare_logits(ref, got, 1024), e == ExpertDtype::FP8 ? "tiny fp8 experts" : wide ? "tiny fp4, 16-byte loads" : "tiny fp4");
  }
}

// Decode attention's splits (ExecutorOptions::attn_split_keys) change only the order in which the
// P.V partials add up: one key per split (the most splits) and one split per row (no merge
// dispatch: the P.V pass finishes the rows itself) both match the CPU reference.
TEST_F(ExecutorTest, AttentionSplitsMatchTheCpuReference) {
  const fs::path dir = synthetic_dir("tiny", 5, 11);
  const std::vector<int64_t> t = some_tokens(40, 1024, 7);
  const std::vector<float> ref = cpu_logits(dir, t, 24, 8);
  std::vector<size_t> dispatches;
  int64_t layers = 0;
  for (const uint32_t keys : {1u, 1u << 20}) {
    Gpu g = open(dir, {.max_context = 64, .max_seqs = 1, .prefill_chunk = 8, .attn_split_keys = keys});
    expect_close(compare_logits(ref, gpu_logits(*g.ex, t, 24), 1024), "keys per split " + std::to_string(keys));
    dispatches.push_back(g.ex->stats().decode_dispatches);
    layers = g.ex->cfg().n_layers;
  }
  EXPECT_EQ(dispatches[0] - dispatches[1], size_t(layers));  // a merge per layer
}

// The small preset: head_dim 192 (not a power of two, so the compressor's norm tree has uneven
// leaves), 8 heads, ratio 128 layers, vocabulary 4096.
TEST_F(ExecutorTest, SmallPresetMatchesTheCpuReference) {
  const fs::path dir = synthetic_dir("small", 4, 7);
  const std::vector<int64_t> t = some_tokens(40, 4096, 5);
  Gpu g = open(dir, {.max_context = 64, .max_seqs = 1, .prefill_chunk = 16});
  const std::vector<float> got = gpu_logits(*g.ex, t, 24);
  const std::vector<float> ref = cpu_logits(dir, t, 24, 16);
  expect_close(compare_logits(ref, got, 4096), "small");
}

// The recording options change the dispatches, never the numbers: dependency-level order vs op
// order, act_quant fused into the FP8 GEMVs vs its own dispatch, none / part / all of hc_pre
// inside the hc_post before it, the query heads finished by the wq_b GEMVs vs their own dispatches;
// the logits are bit-equal.
TEST_F(ExecutorTest, RecordingOptionsGiveBitEqualLogits) {
  const fs::path dir = synthetic_dir("tiny", 5, 11);
  const std::vector<int64_t> t = some_tokens(24, 1024, 9);
  using F = gpu::ExecutorOptions::HcFusion;
  struct Options {
    bool reorder, fuse_act_quant;
    F hc;
    bool fuse_q_heads = true;
  };
  std::vector<float> first;
  std::vector<size_t> dispatches;
  int64_t layers = 0, csa_layers = 0;
  for (const Options& o : {Options{true, true, F::Partials}, Options{false, true, F::Partials}, Options{true, false, F::Partials},
                           Options{true, true, F::None}, Options{true, true, F::Full}, Options{false, false, F::None},
                           Options{true, true, F::Partials, false}}) {
    Gpu g = open(dir, {.max_context = 64, .max_seqs = 1, .prefill_chunk = 8, .reorder = o.reorder,
                       .fuse_act_quant = o.fuse_act_quant, .hc_fusion = o.hc, .fuse_q_heads = o.fuse_q_heads});
    const std::vector<float> got = gpu_logits(*g.ex, t, 12);
    dispatches.push_back(g.ex->stats().decode_dispatches);
    layers = g.ex->cfg().n_layers;
    csa_layers = 0;
    for (int64_t i = 0; i < layers; ++i) csa_layers += g.ex->cfg().ratio(i) == 4 ? 1 : 0;
    if (first.empty()) first = got;
    else EXPECT_TRUE(got == first) << "reorder " << o.reorder << " fuse_act_quant " << o.fuse_act_quant << " hc_fusion " << int(o.hc)
                                   << " fuse_q_heads " << o.fuse_q_heads;
  }
  EXPECT_LT(dispatches[0], dispatches[2]);  // the act_quant dispatches are gone
  // Each hc_post but the last layer's FFN one takes over the next hc_mix_partials (Partials), or
  // that and the hc_pre (Full).
  EXPECT_EQ(dispatches[3] - dispatches[0], size_t(2 * layers - 1));
  EXPECT_EQ(dispatches[0] - dispatches[4], size_t(2 * layers - 1));
  // The wq_b GEMVs finish the query heads: no q_heads, and on ratio-4 layers no indexer.query.
  EXPECT_EQ(dispatches[6] - dispatches[0], size_t(layers + csa_layers));
}

// Decoding one row, the GEMVs of one input merge: wq_a and wkv (the small preset's weights abut
// at bindable offsets; tiny's FP8 scales of 8 bytes a matrix do not), the routed and shared
// experts' gate/up and down, and on ratio-4 layers the two compressors' wkv_wgate. Four
// dispatches fewer per layer (apart, the routed gate/up also reads x from an act_quant dispatch)
// and one more per ratio-4 layer, the same logits bit for bit as a dispatch each
// (SmallPresetMatchesTheCpuReference checks the merged paths against the CPU reference).
TEST_F(ExecutorTest, MergedGemvsGiveBitEqualLogits) {
  const fs::path dir = synthetic_dir("small", 3, 13);
  const std::vector<int64_t> t = some_tokens(20, 4096, 3);
  std::vector<float> first;
  std::vector<size_t> dispatches;
  int64_t layers = 0, csa_layers = 0;
  for (const bool merge : {true, false}) {
    Gpu g = open(dir, {.max_context = 64, .max_seqs = 1, .prefill_chunk = 8, .merge_gemvs = merge, .merge_expert_gemvs = merge});
    const std::vector<float> got = gpu_logits(*g.ex, t, 12);
    dispatches.push_back(g.ex->stats().decode_dispatches);
    layers = g.ex->cfg().n_layers;
    csa_layers = 0;
    for (int64_t i = 0; i < layers; ++i) csa_layers += g.ex->cfg().ratio(i) == 4 ? 1 : 0;
    if (first.empty()) first = got;
    else EXPECT_TRUE(got == first);
  }
  EXPECT_EQ(dispatches[1] - dispatches[0], size_t(4 * layers + csa_layers));
}

// Greedy generation: the GPU sampler feeding the next step gives the CPU's greedy tokens.
TEST_F(ExecutorTest, GreedyGenerationEqualsTheCpuTokens) {
  const fs::path dir = synthetic_dir("tiny", 5, 5);
  const std::vector<int64_t> prompt64 = some_tokens(12, 1024, 9);
  const std::vector<int32_t> prompt(prompt64.begin(), prompt64.end());
  Gpu g = open(dir, {.max_context = 96, .max_seqs = 1, .prefill_chunk = 8});
  gpu::GenerateOptions o;
  o.max_tokens = 40;
  const gpu::GenerateResult r = gpu::generate(*g.ex, 0, 0, prompt, o, [](int32_t) { return true; });
  ASSERT_EQ(r.tokens.size(), 40u);
  auto w = std::make_shared<const graph::ModelWeights>(graph::load_model_weights(dir));
  graph::Session s(w, {.max_context = 0, .prefill_chunk = 8});
  std::vector<float> l = s.prefill(std::span<const int64_t>(prompt64.data(), prompt64.size()));
  size_t agree = 0;
  float regret = 0.f;  // at the divergence: the CPU's best logit minus its logit of the GPU's token
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const int64_t best = std::max_element(l.begin(), l.end()) - l.begin();
    if (best != r.tokens[i]) {  // after a divergence the sequences differ; count the prefix
      regret = l[size_t(best)] - l[size_t(r.tokens[i])];
      break;
    }
    ++agree;
    l = s.decode(best);
  }
  // Near-ties in random-weight logits may flip argmax under a different summation order (the
  // teacher-forced logits below agree on top-1 in 98% of the steps on an H100): the tokens must
  // agree up to a step where the CPU's two candidates are within the fixture's regret tolerance
  // (tests/data/tiny-a/README.md: 2.8), and for at least 20 steps. Measured: lavapipe 31 steps
  // (regret 0.06 at the divergence); H100 27 (regret 0.83).
  std::printf("greedy: %zu of %zu steps agree, regret at the divergence %.4f\n", agree, r.tokens.size(), double(regret));
  EXPECT_GE(agree, 20u) << "GPU and CPU greedy tokens diverged at step " << agree;
  EXPECT_LE(regret, 2.8f) << "the divergence at step " << agree << " is not a near-tie";
  EXPECT_EQ(g.ex->stats().recordings, 2u);
  EXPECT_EQ(g.ex->stats().submissions, 2u + 39u);  // 2 prefill chunks + 39 decode steps
}

// A long decode shows no drift against the CPU: per-step logits stay within the tolerances the
// whole way (DSV4_DRIFT_STEPS steps, default 200 on lavapipe; 1000 on a GPU).
TEST_F(ExecutorTest, LongDecodeDoesNotDriftFromTheCpu) {
  const char* env = std::getenv("DSV4_DRIFT_STEPS");
  const int steps = env ? std::atoi(env) : 200;
  const fs::path dir = synthetic_dir("tiny", 3, 21);
  const std::vector<int64_t> t = some_tokens(steps + 4, 1024, 17);
  Gpu g = open(dir, {.max_context = steps + 8, .max_seqs = 1, .prefill_chunk = 4});
  const std::vector<float> got = gpu_logits(*g.ex, t, 4);
  const std::vector<float> ref = cpu_logits(dir, t, 4, 4);
  // Compare windows of 50 steps so a late drift cannot hide in an average over the whole run.
  for (size_t w = 0; w * 50 < size_t(steps); ++w) {
    const size_t r0 = w * 50, r1 = std::min<size_t>(size_t(steps) + 1, r0 + 50);
    const std::vector<float> a(ref.begin() + long(r0 * 1024), ref.begin() + long(r1 * 1024));
    const std::vector<float> b(got.begin() + long(r0 * 1024), got.begin() + long(r1 * 1024));
    const LogitMetrics m = compare_logits(a, b, 1024);
    std::printf("steps %zu..%zu: median %.4f max %.4f kl %.5f top1 %lld/%lld\n", r0, r1, m.median_rel, m.max_rel,
                m.mean_kl, (long long)m.top1_agree, (long long)m.rows);
    // Drift would raise the typical error window after window; single rows may jump when a
    // near-tied expert or index selection resolves the other way on the GPU (measured on
    // lavapipe: one row of 200 at 0.55, the rest <= 0.1), so max is only bounded, not tight.
    const std::string what = "steps " + std::to_string(r0) + ".." + std::to_string(r1);
    EXPECT_LE(m.median_rel, 0.097) << what;
    EXPECT_LE(m.mean_kl, 0.13) << what;
    EXPECT_LE(m.max_rel, 1.0) << what;
    EXPECT_GE(double(m.top1_agree), 0.9 * double(m.rows)) << what;
  }
  EXPECT_EQ(g.ex->stats().recordings, 2u);
}

}  // namespace
}  // namespace dsv4::test
