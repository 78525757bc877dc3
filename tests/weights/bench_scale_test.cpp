// dsv4 bench --scale-to: a profiled step of a truncated model extrapolated to a full layer mix
// (cli/bench_scale.h), against sums worked out by hand.
#include "cli/bench_scale.h"

#include <gtest/gtest.h>

#include "weights/synthetic_model.h"

namespace dsv4 {
namespace {

ModelConfig with_ratios(std::vector<int64_t> ratios) {
  ModelConfig c;
  c.n_layers = int64_t(ratios.size());
  ratios.push_back(0);  // the MTP block
  c.compress_ratios = ratios;
  return c;
}

TEST(BenchScaleTest, LabelsNameTheirLayer) {
  EXPECT_EQ(cli::layer_of_label("layers.0.hc_attn hc_pre"), 0);
  EXPECT_EQ(cli::layer_of_label("layers.12.attn.wq_b/gemv_q"), 12);
  EXPECT_EQ(cli::layer_of_label("head/gemv"), -1);
  EXPECT_EQ(cli::layer_of_label("layers.x.attn"), -1);
  EXPECT_EQ(cli::layer_of_label("layers.7"), -1);  // no module after the number
  EXPECT_EQ(cli::layer_of_label("mtp.0.attn"), -1);
}

// Measured: window layers 0, 1 (10 + 20 ns: mean 15), CSA layer 2 (40), HCA layer 3 (70), and
// 100 ns step-wide. A full mix of 2 window + 3 CSA + 2 HCA layers: 100 + 2*15 + 3*40 + 2*70 = 390.
TEST(BenchScaleTest, SumsEachKindsMeanOverTheFullMix) {
  const ModelConfig measured = with_ratios({0, 0, 4, 128});
  const std::vector<std::pair<std::string, double>> profile = {
      {"embed", 60},  {"layers.0.attn.wq_a/gemv_q", 4}, {"layers.0.ffn moe gate", 6}, {"layers.1.hc_attn hc_pre", 20},
      {"layers.2.attn.indexer.topk indexer.topk", 40}, {"layers.3.attn.sparse_attention attn.sparse.max", 70},
      {"head/gemv", 40}};
  const cli::ScaledStep s = cli::scale_step_profile(measured, profile, with_ratios({0, 0, 4, 128, 4, 128, 4}));
  EXPECT_DOUBLE_EQ(s.measured_ns, 240);
  EXPECT_DOUBLE_EQ(s.scaled_ns, 390);
  // Scaled to its own layers, a step is itself.
  EXPECT_DOUBLE_EQ(cli::scale_step_profile(measured, profile, measured).scaled_ns, 240);
}

TEST(BenchScaleTest, AKindTheMeasuredModelLacksIsAClearError) {
  const ModelConfig measured = with_ratios({0, 0, 4});
  try {
    cli::scale_step_profile(measured, {}, with_ratios({0, 0, 4, 128}));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 3 has compress ratio 128"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cli::scale_step_profile(measured, {{"layers.5.ffn moe gate", 1}}, measured), std::invalid_argument);
}

// The Flash preset truncated to 4 layers holds every kind the full 43-layer mix needs.
TEST(BenchScaleTest, FlashFourLayersCoverTheFullFlashMix) {
  SyntheticOptions o;
  o.preset = "flash";
  const ModelConfig full = synthetic_config(o);
  o.layers = 4;
  const ModelConfig four = synthetic_config(o);
  ASSERT_EQ(full.n_layers, 43);
  const std::vector<std::pair<std::string, double>> profile = {
      {"layers.0.a", 1}, {"layers.1.a", 1}, {"layers.2.a", 2}, {"layers.3.a", 3}, {"head", 5}};
  EXPECT_DOUBLE_EQ(cli::scale_step_profile(four, profile, full).scaled_ns, 5 + 2 * 1 + 21 * 2 + 20 * 3);
}

}  // namespace
}  // namespace dsv4
