// dsv4 run / eval --backend vulkan as a user runs them: the demo model is created once, text is
// generated and streamed, statistics report one recording per step shape, and bad input (a prompt
// longer than the context, an unknown token id) is a one-line error with a non-zero exit. The
// validation layer is not in these child processes; the in-process executor tests cover it.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "graph/npy.h"
#include "gpu/executor/cli_helpers.h"

namespace dsv4::test {
namespace {

namespace fs = std::filesystem;

using Result = CliResult;

Result run_cli(const std::string& args, const fs::path& cache, const std::string& more_env = "") {
  return run_dsv4("DSV4_CACHE_DIR=" + cache.string() + " " + more_env, args);
}

class CliTest : public ::testing::Test {
 protected:
  static fs::path cache() { return fs::temp_directory_path() / ("dsv4_cli_test_" + std::to_string(::getpid())); }
  static void TearDownTestSuite() { fs::remove_all(cache()); }
};

TEST_F(CliTest, RunGeneratesTextOnTheDemoModel) {
  const Result r = run_cli("run --prompt 'Hello there' --max-tokens 12 --stats", cache());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("RANDOM weights"), std::string::npos) << r.out;  // honestly labelled
  EXPECT_NE(r.out.find("decode 12 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recordings 2"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(cache() / "demo-model" / "tokenizer.json"));
  // Same seed, same text; the second run reuses the demo model.
  const Result a = run_cli("run --prompt 'Hi' --max-tokens 10 --temperature 0.9 --seed 7", cache());
  const Result b = run_cli("run --prompt 'Hi' --max-tokens 10 --temperature 0.9 --seed 7", cache());
  ASSERT_EQ(a.status, 0) << a.out;
  auto text = [](const std::string& o) { return o.substr(o.find("noise"), o.find("\n[") - o.find("noise")); };
  EXPECT_EQ(text(a.out), text(b.out));
  EXPECT_EQ(a.out.find("creating the built-in demo model"), std::string::npos);
}

TEST_F(CliTest, RunRejectsAPromptLongerThanTheContext) {
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word ";
  const Result r = run_cli("run --ctx 64 --prompt '" + words + "'", cache());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("dsv4: error: the prompt has"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("raise --ctx"), std::string::npos) << r.out;
}

// eval --backend vulkan writes the fixture's rows within its tolerances (checked in detail by
// the executor tests) and refuses ids outside the vocabulary.
TEST_F(CliTest, EvalVulkanWritesLogitsAndRejectsBadIds) {
  const fs::path dir = fs::path(DSV4_TEST_DATA_DIR) / "tiny-a";
  const fs::path out = cache() / "eval.npy";
  fs::create_directories(cache());
  const Result r = run_cli("eval --backend vulkan --model " + dir.string() +
                               " --tokens 0,5,9,100,7,8,1000,3 --prefill 5 --chunk 2 --dump-logits " + out.string(),
                           cache());
  ASSERT_EQ(r.status, 0) << r.out;
  const graph::NpyArray a = graph::read_npy(out);
  EXPECT_EQ(a.rows, 4);
  EXPECT_EQ(a.cols, 1024);
  const Result bad = run_cli("eval --backend vulkan --model " + dir.string() +
                                 " --tokens 0,5000 --prefill 1 --dump-logits " + out.string(),
                             cache());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("outside the vocabulary"), std::string::npos) << bad.out;
}

// Out of device memory (simulated with DSV4_DEVICE_MEMORY_LIMIT) is a one-line error naming what
// did not fit and what to change, at load (weights) and at session setup (KV caches).
TEST_F(CliTest, DeviceMemoryExhaustionIsAClearError) {
  ASSERT_EQ(run_cli("run --prompt hi --max-tokens 1", cache()).status, 0);  // the demo model exists
  const Result weights = run_cli("run --prompt hi --max-tokens 1", cache(), "DSV4_DEVICE_MEMORY_LIMIT=64M");
  EXPECT_NE(weights.status, 0);
  EXPECT_NE(weights.out.find("dsv4: error: the weights of"), std::string::npos) << weights.out;
  EXPECT_NE(weights.out.find("do not fit on"), std::string::npos) << weights.out;
  const Result caches =
      run_cli("run --prompt hi --max-tokens 1 --ctx 4096 --chunk 4096", cache(), "DSV4_DEVICE_MEMORY_LIMIT=200M");
  EXPECT_NE(caches.status, 0);
  EXPECT_NE(caches.out.find("lower --ctx, --batch or --chunk"), std::string::npos) << caches.out;
}

// dsv4 bench on the demo model: the JSON report (schema in bench/README.md) agrees with itself: the
// profiles hold one entry per dispatch and sum to the reported splits, and the roofline fraction,
// tokens/s and bytes per token follow from the measured step time, bytes and bandwidth.
TEST_F(CliTest, BenchJsonIsConsistent) {
  const fs::path out = cache() / "bench.json";
  fs::create_directories(cache());
  const Result r = run_cli("bench --ctx 256 --batch 1 --prompt-len 8 --steps 2 --json " + out.string(), cache());
  ASSERT_EQ(r.status, 0) << r.out;
  std::ifstream f(out);
  const nlohmann::json j = nlohmann::json::parse(f);
  ASSERT_EQ(j["points"].size(), 1u) << j.dump();
  const nlohmann::json& pt = j["points"][0];
  EXPECT_EQ(pt["ctx"], 256);
  EXPECT_EQ(pt["batch"], 1);
  const auto sum_ms = [](const nlohmann::json& list) {
    return std::accumulate(list.begin(), list.end(), 0.0, [](double a, const nlohmann::json& e) { return a + e["ms"].get<double>(); });
  };
  const auto sum_values = [](const nlohmann::json& map) {
    double s = 0;
    for (const auto& [k, v] : map.items()) s += v.get<double>();
    return s;
  };
  EXPECT_EQ(pt["decode_profile"].size(), pt["dispatches_per_step"].get<size_t>());
  EXPECT_NEAR(sum_ms(pt["decode_profile"]), pt["decode_profiled_ms_per_step"].get<double>(), 1e-6);
  EXPECT_NEAR(sum_values(pt["decode_split_ms"]), pt["decode_profiled_ms_per_step"].get<double>(), 1e-6);
  ASSERT_TRUE(pt["prefill_profile"].contains("8")) << pt.dump();
  EXPECT_GT(pt["prefill_profile"]["8"].size(), 0u);
  EXPECT_NEAR(sum_ms(pt["prefill_profile"]["8"]), sum_values(pt["prefill_split_ms"]["8"]), 1e-6);
  // The weight products (here the prompt's GEMVs and the experts') hold part of the time, not all.
  const double outside = pt["prefill_outside_gemm_fraction"]["8"];
  EXPECT_GT(outside, 0.0);
  EXPECT_LT(outside, 1.0);
  double products = 0;
  for (const auto& e : pt["prefill_profile"]["8"]) {
    const std::string d = e["dispatch"];
    if (d.find("moe gate_up") != std::string::npos || d.find("moe down") != std::string::npos || d.ends_with("/gemv") ||
        d.ends_with("/gemv_q") || d.ends_with("/gemm") || d.ends_with("/gemm_coopmat"))
      products += e["ms"].get<double>();
  }
  EXPECT_NEAR(outside, 1.0 - products / sum_ms(pt["prefill_profile"]["8"]), 1e-9);
  const double ms = pt["decode_ms_per_step"], bytes = pt["bytes_per_step"], gbps = j["bandwidth_gbps"];
  ASSERT_GT(ms, 0.0);
  ASSERT_GT(gbps, 0.0);
  EXPECT_NEAR(pt["roofline_fraction"].get<double>(), bytes / (ms * 1e-3) / (gbps * 1e9), 1e-9);
  EXPECT_NEAR(pt["decode_tok_s"].get<double>(), 1e3 / ms, 1e-9 * 1e3 / ms);
  EXPECT_EQ(pt["bytes_per_token"].get<double>(), bytes);
  EXPECT_GT(pt["prefill"]["8"].get<double>(), 0.0);
}

}  // namespace
}  // namespace dsv4::test
