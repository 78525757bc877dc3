// Leak hygiene: loading and unloading a model repeatedly, and opening and closing many sessions
// (executors and batch runs) in one process, gives every byte of device memory back
// (vk::Device::local_in_use() returns to its baseline after each), leaves the validation layer
// silent (it reports objects still alive at device destruction), and, in the ASan build, leaves
// LeakSanitizer nothing to report for our code. Sized to run in a few seconds on lavapipe, so
// the ASan pass (which skips `slow`) runs it too.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <unistd.h>

#include "gpu/common/gpu_test_helpers.h"
#include "graph/vulkan/batch.h"
#include "graph/vulkan/device_model.h"
#include "weights/model_dir.h"
#include "weights/synthetic_model.h"

namespace dsv4::test {
namespace {

namespace fs = std::filesystem;

fs::path scratch() {
  std::ostringstream o;
  o << "dsv4_leak_test_" << ::getpid();
  return fs::temp_directory_path() / o.str();
}

class LeakTest : public VulkanTest {
 protected:
  static void TearDownTestSuite() { fs::remove_all(scratch()); }
  static fs::path model() {
    const fs::path dir = scratch() / "tiny";
    if (!fs::exists(dir / "config.json")) {
      SyntheticOptions o;
      o.preset = "tiny";
      o.layers = 2;
      o.seed = 5;
      write_synthetic_model(o, dir, true);
    }
    return dir;
  }
  static constexpr gpu::ExecutorOptions kSession{.max_context = 32, .max_seqs = 2, .prefill_chunk = 4};

  // Two short requests: a session admits, prefills, decodes and finishes sequences in both slots.
  static std::vector<gpu::BatchRequest> requests(int session) {
    std::vector<gpu::BatchRequest> r(2);
    for (int i = 0; i < 2; ++i) {
      r[i].id = std::to_string(i);
      r[i].prompt = {int32_t(2 + session % 50), int32_t(10 + i)};
      r[i].max_tokens = 2;
    }
    return r;
  }
};

TEST_F(LeakTest, LoadUnloadCyclesGiveAllDeviceMemoryBack) {
  const uint64_t baseline = device().local_in_use();
  const ModelDir md = open_model_dir(model());
  for (int cycle = 0; cycle < 5; ++cycle) {
    auto dm = std::make_shared<gpu::DeviceModel>(device(), md);
    EXPECT_GT(device().local_in_use(), baseline);
    {
      gpu::VulkanExecutor ex(device(), dm, kSession);
      const gpu::StepRow row{5, 0, 0, 0};
      ex.step(std::span<const gpu::StepRow>(&row, 1), true);
      EXPECT_EQ(ex.sampled(1).size(), 1u);
    }
    dm.reset();
    EXPECT_EQ(device().local_in_use(), baseline) << "after load/unload cycle " << cycle;
  }
}

// 100 sessions on one loaded model: every 25th builds a new executor (its caches, recordings,
// descriptor pools), the others are batch runs on it (slot reuse, admission, completion).
TEST_F(LeakTest, HundredSessionsGiveAllDeviceMemoryBack) {
  const uint64_t baseline = device().local_in_use();
  auto dm = std::make_shared<gpu::DeviceModel>(device(), open_model_dir(model()));
  const uint64_t loaded = device().local_in_use();
  std::unique_ptr<gpu::VulkanExecutor> ex;
  size_t completions = 0;
  for (int session = 0; session < 100; ++session) {
    if (session % 25 == 0) {
      ex.reset();
      EXPECT_EQ(device().local_in_use(), loaded) << "after executor session " << session / 25;
      ex = std::make_unique<gpu::VulkanExecutor>(device(), dm, kSession);
    }
    gpu::BatchRunner runner(*ex, {1});
    runner.run(requests(session), [&](gpu::BatchResult&& r) { completions += !r.tokens.empty(); });
  }
  ex.reset();
  EXPECT_EQ(completions, 200u);
  EXPECT_EQ(device().local_in_use(), loaded);
  dm.reset();
  EXPECT_EQ(device().local_in_use(), baseline);
}

}  // namespace
}  // namespace dsv4::test
