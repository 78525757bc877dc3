// Continuous batching (graph/vulkan/batch.h) against running each request alone, and the
// `dsv4 batch` command's file contract: error records for bad lines, resume without duplicates.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "gpu/executor/cli_helpers.h"
#include "graph/vulkan/batch.h"
#include "graph/vulkan/device_model.h"
#include "gpu/common/gpu_test_helpers.h"
#include "weights/model_dir.h"
#include "weights/synthetic_model.h"

namespace dsv4::test {
namespace {

namespace fs = std::filesystem;

// Concatenation through a stream: GCC 12's -Wrestrict misfires on chains of string operator+.
template <class... T>
std::string cat(const T&... parts) {
  std::ostringstream o;
  (o << ... << parts);
  return o.str();
}

fs::path scratch() { return fs::temp_directory_path() / ("dsv4_batch_test_" + std::to_string(::getpid())); }

class BatchTest : public VulkanTest {
 protected:
  static void TearDownTestSuite() { fs::remove_all(scratch()); }
  static fs::path model() {
    const fs::path dir = scratch() / "tiny";
    if (!fs::exists(dir / "config.json")) {
      SyntheticOptions o;
      o.preset = "tiny";
      o.layers = 3;
      o.seed = 8;
      write_synthetic_model(o, dir, true);
    }
    return dir;
  }
  // Mixed prompt lengths (1..19 tokens) and completion lengths.
  static std::vector<gpu::BatchRequest> requests(float temperature) {
    std::mt19937 rng(4);
    std::vector<gpu::BatchRequest> r;
    for (int i = 0; i < 7; ++i) {
      gpu::BatchRequest q;
      q.id = cat("r", i);
      for (int k = 0; k < 1 + (i * 7) % 19; ++k) q.prompt.push_back(int32_t(rng() % 1000) + 2);
      q.max_tokens = 4 + (i * 5) % 11;
      q.sampling.temperature = temperature;
      q.sampling.seed = 100 + uint64_t(i);
      r.push_back(q);
    }
    return r;
  }
  std::map<std::string, std::vector<int32_t>> run(uint32_t batch, float temperature) {
    const ModelDir md = open_model_dir(model());
    auto dm = std::make_shared<gpu::DeviceModel>(device(), md);
    gpu::VulkanExecutor ex(device(), dm, {.max_context = 64, .max_seqs = batch, .prefill_chunk = 8});
    gpu::BatchRunner runner(ex, {1});
    std::map<std::string, std::vector<int32_t>> out;
    runner.run(requests(temperature), [&](gpu::BatchResult&& r) { out[r.id] = r.tokens; });
    EXPECT_LE(ex.stats().recordings, 2u);  // one decode shape, one prefill shape, never re-recorded
    return out;
  }
};

// Greedy: a batch of 3 (continuous batching, prefills interleaved with decodes) gives every
// request exactly the tokens it gets alone; seeded sampling too (the random stream ignores slots).
// A 12-slot recording (past the 8 rows where linears once switched to the GEMM) too: decode keeps
// batch-independent GEMV kernels at every size.
TEST_F(BatchTest, BatchedEqualsSequentialTokenForToken) {
  for (float temperature : {0.f, 0.9f}) {
    const auto alone = run(1, temperature);
    ASSERT_EQ(alone.size(), 7u);
    for (uint32_t batch : {3u, 12u}) {
      const auto batched = run(batch, temperature);
      ASSERT_EQ(batched.size(), 7u);
      for (const auto& [id, tokens] : alone) {
        EXPECT_EQ(batched.at(id), tokens) << id << " temperature " << temperature << " batch " << batch;
        EXPECT_FALSE(tokens.empty());
      }
    }
  }
}

// Every line of a JSONL file that parses (a torn line left by a crash does not).
std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> v;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) {
    try {
      v.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception&) {
    }
  }
  return v;
}

// Bad lines become error records; a rerun after a "crash" (results of some ids already written,
// a torn last line) runs only the missing ids; no id is lost or duplicated.
TEST_F(BatchTest, CliWritesErrorRecordsAndResumes) {
  const fs::path dir = scratch() / "cli";
  fs::create_directories(dir);
  const fs::path in = dir / "in.jsonl", out = dir / "out.jsonl";
  {
    std::ofstream f(in);
    for (int i = 0; i < 6; ++i) f << "{\"id\": " << i << ", \"prompt\": \"line " << i << "\", \"max_tokens\": 3}\n";
    f << "{not json\n{\"prompt\": \"no id\"}\n{\"id\": 9, \"messages\": 5}\n";
  }
  {
    std::ofstream f(out);  // ids 0 and 1 finished before the crash; id 2 torn mid-write
    f << "{\"id\": 0, \"text\": \"x\", \"finish_reason\": \"length\"}\n{\"id\": 1, \"text\": \"y\", \"finish_reason\": \"length\"}\n{\"id\": 2, \"te";
  }
  const std::string args = cat("batch --input ", in.string(), " --output ", out.string(), " --batch 2 --max-tokens 3");
  const std::string env = cat("DSV4_CACHE_DIR=", (dir / "cache").string(), " ");
  CliResult r = run_dsv4(env, args);
  ASSERT_EQ(r.status, 0) << r.out;
  std::map<std::string, int> count;
  int errors = 0;
  for (const auto& j : read_jsonl(out)) {
    if (j.contains("error")) ++errors;
    else ++count[j["id"].dump()];
  }
  EXPECT_EQ(errors, 3);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(count[std::to_string(i)], 1) << "id " << i;
  // A second rerun finds everything done.
  r = run_dsv4(env, args);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("0 to run, 9 already done"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dsv4::test
