// GPU faults injected by vk::Device ($DSV4_FAULT_DEVICE_LOST_AFTER, $DSV4_FAULT_HANG_AFTER,
// $DSV4_WATCHDOG_MS): the device reports them as a real lost or hung GPU would, stays faulted,
// and everything above it (executor, batch runner, the dsv4 commands) fails with one clear error,
// exit status 3, no crash, no endless wait, and a validation-silent teardown. The fault
// submission numbers are derived from what a fault-free load submits, measured here, so the tests
// follow changes in how many submissions a load or a step takes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "gpu/common/gpu_test_helpers.h"
#include "gpu/executor/cli_helpers.h"
#include "graph/vulkan/batch.h"
#include "graph/vulkan/device_model.h"
#include "vk/error.h"
#include "vk/make.h"
#include "weights/chat.h"
#include "weights/model_dir.h"
#include "weights/synthetic_model.h"
#include "weights/tokenizer.h"

namespace dsv4::test {
namespace {

namespace fs = std::filesystem;

template <class... T>
std::string cat(const T&... parts) {
  std::ostringstream o;
  (o << ... << parts);
  return o.str();
}

fs::path scratch() { return fs::temp_directory_path() / cat("dsv4_fault_test_", ::getpid()); }

// A device built while `env` is set (the Device reads its fault switches once, when built).
std::unique_ptr<vk::Device> device_with(const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  std::unique_ptr<vk::Device> d;
  try {
    d = vk::Device::open(vulkan_instance(), vk::device_selector(""));
  } catch (...) {
    for (const auto& [k, v] : env) ::unsetenv(k.c_str());
    throw;
  }
  for (const auto& [k, v] : env) ::unsetenv(k.c_str());
  return d;
}

// Empty command buffers, one per submission.
class Commands {
 public:
  Commands(vk::Device& d, uint32_t n) : d_(d), cmds_(n) {
    auto ai = vk::make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
    ai.commandPool = d.command_pool();
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = n;
    vk::check(vkAllocateCommandBuffers(d.handle(), &ai, cmds_.data()), "vkAllocateCommandBuffers");
    for (VkCommandBuffer c : cmds_) {
      auto bi = vk::make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
      vkBeginCommandBuffer(c, &bi);
      vkEndCommandBuffer(c);
    }
  }
  ~Commands() { vkFreeCommandBuffers(d_.handle(), d_.command_pool(), uint32_t(cmds_.size()), cmds_.data()); }
  VkCommandBuffer operator[](size_t i) const { return cmds_[i]; }

 private:
  vk::Device& d_;
  std::vector<VkCommandBuffer> cmds_;
};

class FaultTest : public VulkanTest {
 protected:
  static void TearDownTestSuite() { fs::remove_all(scratch()); }
  // The demo shapes (the real vocabulary, so the real tokenizer works) with 2 layers.
  static fs::path model() {
    const fs::path dir = scratch() / "model";
    if (!fs::exists(dir / "config.json")) {
      SyntheticOptions o;
      o.preset = "demo";
      o.layers = 2;
      o.seed = 3;
      o.tokenizer = fs::path(DSV4_TEST_DATA_DIR) / "tokenizer" / "tokenizer.json";
      write_synthetic_model(o, dir, true);
    }
    return dir;
  }
  // The tiny preset (small vocabulary: fast to load) for the in-process runs that need no text.
  static fs::path tiny_model() {
    const fs::path dir = scratch() / "tiny";
    if (!fs::exists(dir / "config.json")) {
      SyntheticOptions o;
      o.preset = "tiny";
      o.layers = 2;
      o.seed = 3;
      write_synthetic_model(o, dir, true);
    }
    return dir;
  }
  // Submissions a fault-free load of `dir` plus an executor with `eo` takes.
  uint64_t load_submissions(const gpu::ExecutorOptions& eo, const fs::path& dir = model()) {
    const uint64_t before = device().last_submitted();
    {
      auto dm = std::make_shared<gpu::DeviceModel>(device(), open_model_dir(dir));
      gpu::VulkanExecutor ex(device(), dm, eo);
    }
    return device().last_submitted() - before;
  }
  // The requests `dsv4 batch` makes of lines {"id": i, "prompt": prompts[i], "max_tokens": 4} (greedy).
  static std::vector<gpu::BatchRequest> requests(const std::vector<std::string>& prompts) {
    const Tokenizer tok = Tokenizer::load(model() / "tokenizer.json");
    std::vector<gpu::BatchRequest> r;
    for (size_t i = 0; i < prompts.size(); ++i) {
      gpu::BatchRequest q;
      q.id = std::to_string(i);
      const ChatJson m = ChatJson::array({ChatJson{{"role", "user"}, {"content", prompts[i]}}});
      for (int32_t t : tok.encode_prompt(encode_messages(m, chat_options_for_mode("chat")))) q.prompt.push_back(t);
      q.max_tokens = 4;
      r.push_back(q);
    }
    return r;
  }
  // Submissions of a fault-free batch run after the load until its first completion was reported:
  // a fault after load + that many submissions leaves >= 1 result finished and (checked) others not.
  uint64_t submissions_to_first_completion(const gpu::ExecutorOptions& eo, std::vector<gpu::BatchRequest> reqs,
                                           const fs::path& dir = model()) {
    auto dm = std::make_shared<gpu::DeviceModel>(device(), open_model_dir(dir));
    gpu::VulkanExecutor ex(device(), dm, eo);
    const uint64_t start = device().last_submitted();
    uint64_t first = 0;
    size_t n = 0;
    gpu::BatchRunner(ex, {1}).run(std::move(reqs), [&](gpu::BatchResult&&) {
      if (n++ == 0) first = device().last_submitted() - start;
    });
    EXPECT_GT(n, 1u);
    return first;
  }
  // Token prompts of 2..5 tokens for the tiny model.
  static std::vector<gpu::BatchRequest> token_requests(int n) {
    std::vector<gpu::BatchRequest> r(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      r[size_t(i)].id = std::to_string(i);
      for (int k = 0; k < 2 + i % 4; ++k) r[size_t(i)].prompt.push_back(int32_t(20 + 7 * k + i));
      r[size_t(i)].max_tokens = 3;
    }
    return r;
  }
  static std::vector<std::string> prompts(int n) {
    std::vector<std::string> p;
    for (int i = 0; i < n; ++i) p.push_back(cat("question ", i));
    return p;
  }
};

TEST_F(FaultTest, DeviceLostAtTheWaitForSubmissionNPlus1AndAfter) {
  auto d = device_with({{"DSV4_FAULT_DEVICE_LOST_AFTER", "2"}});
  {
    Commands c(*d, 4);
    d->wait(d->submit(c[0]));
    d->wait(d->submit(c[1]));
    EXPECT_EQ(d->fault(), vk::Device::Fault::none);
    const uint64_t third = d->submit(c[2]);  // accepted, as by a device that is about to be lost
    try {
      d->wait(third);
      ADD_FAILURE() << "expected vk::DeviceLost";
    } catch (const vk::DeviceLost& e) {
      EXPECT_EQ(e.result(), VK_ERROR_DEVICE_LOST);
      EXPECT_NE(std::string(e.what()).find("VK_ERROR_DEVICE_LOST"), std::string::npos) << e.what();
    }
    EXPECT_EQ(d->fault(), vk::Device::Fault::lost);
    EXPECT_THROW(d->submit(c[3]), vk::DeviceLost);  // every later call that touches the queue
    EXPECT_THROW(d->wait(1), vk::DeviceLost);
    EXPECT_THROW(d->wait_idle(), vk::DeviceLost);
    EXPECT_EQ(d->last_submitted(), 3u);
  }
  d.reset();  // no throw, no wait on the lost device, nothing for the validation layer
}

TEST_F(FaultTest, HangMissesTheWatchdogAndTeardownIsClean) {
  auto d = device_with({{"DSV4_FAULT_HANG_AFTER", "1"}, {"DSV4_WATCHDOG_MS", "150"}});
  EXPECT_EQ(d->options().watchdog, std::chrono::milliseconds(150));
  {
    Commands c(*d, 3);
    d->wait(d->submit(c[0]));
    const uint64_t second = d->submit(c[1]);
    EXPECT_EQ(d->completed_value(), 1u);  // genuinely stuck behind the unsignalled semaphore
    try {
      d->wait(second);
      ADD_FAILURE() << "expected vk::Timeout";
    } catch (const vk::Timeout& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("GPU step did not finish within 150 ms"), std::string::npos) << m;
      EXPECT_NE(m.find("the device may be hung"), std::string::npos) << m;
    }
    EXPECT_EQ(d->fault(), vk::Device::Fault::hung);
    // Stays hung, and says so at once instead of waiting out the watchdog again.
    EXPECT_THROW(d->wait(second), vk::Timeout);
    EXPECT_THROW(d->submit(c[2]), vk::Timeout);
    EXPECT_THROW(d->wait_idle(), vk::Timeout);
  }
  d.reset();
}

TEST_F(FaultTest, MalformedFaultSwitchesAreRefused) {
  EXPECT_THROW(device_with({{"DSV4_WATCHDOG_MS", "soon"}}), vk::Error);
  EXPECT_THROW(device_with({{"DSV4_WATCHDOG_MS", "0"}}), vk::Error);
  EXPECT_THROW(device_with({{"DSV4_FAULT_HANG_AFTER", "-1"}}), vk::Error);
  EXPECT_THROW(device_with({{"DSV4_FAULT_DEVICE_LOST_AFTER", "3x"}}), vk::Error);
}

// The batch runner on a device lost mid-run: finished requests were reported, the run throws
// vk::DeviceLost, and executor, weights and device then go without throwing or validation messages.
TEST_F(FaultTest, BatchRunnerStopsOnDeviceLostAndTearsDownCleanly) {
  const gpu::ExecutorOptions eo{.max_context = 32, .max_seqs = 2, .prefill_chunk = 4};
  const uint64_t fault_after =
      load_submissions(eo, tiny_model()) + submissions_to_first_completion(eo, token_requests(4), tiny_model());
  for (const char* fault : {"DSV4_FAULT_DEVICE_LOST_AFTER", "DSV4_FAULT_HANG_AFTER"}) {
    SCOPED_TRACE(fault);
    // Hang: a watchdog far above a real step even on a loaded CI machine or under ASan.
    std::map<std::string, std::string> env{{fault, std::to_string(fault_after)}};
    if (std::string(fault) == "DSV4_FAULT_HANG_AFTER") env["DSV4_WATCHDOG_MS"] = "2000";
    auto d = device_with(env);
    std::vector<std::string> done;
    {
      auto dm = std::make_shared<gpu::DeviceModel>(*d, open_model_dir(tiny_model()));
      gpu::VulkanExecutor ex(*d, dm, eo);
      gpu::BatchRunner runner(ex, {1});
      try {
        runner.run(token_requests(4), [&](gpu::BatchResult&& r) { done.push_back(r.id); });
        ADD_FAILURE() << "expected a device fault";
      } catch (const vk::DeviceLost&) {
        EXPECT_EQ(d->fault(), vk::Device::Fault::lost);
      } catch (const vk::Timeout&) {
        EXPECT_EQ(d->fault(), vk::Device::Fault::hung);
      }
    }
    EXPECT_GE(done.size(), 1u);  // the completions before the fault were reported, the rest not
    EXPECT_LT(done.size(), 4u);
    d.reset();
  }
}

// Every JSON line of a file (a torn line does not parse and is left out).
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

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// `dsv4 batch` on a device lost mid-run: exit 3, one error line and the resume hint; the results
// finished before the fault are on disk exactly once, in-flight ones not at all (no error records);
// rerunning without the fault completes every id exactly once.
TEST_F(FaultTest, BatchCommandKeepsFinishedResultsAndResumesAfterDeviceLost) {
  const fs::path dir = scratch() / "batch_lost";
  fs::create_directories(dir);
  const fs::path in = dir / "in.jsonl", out = dir / "out.jsonl";
  {
    std::ofstream f(in);
    const std::vector<std::string> p = prompts(4);
    for (size_t i = 0; i < p.size(); ++i) f << "{\"id\": " << i << ", \"prompt\": \"" << p[i] << "\", \"max_tokens\": 4}\n";
  }
  const gpu::ExecutorOptions eo{.max_context = 64, .max_seqs = 2, .prefill_chunk = 8};
  const uint64_t fault_after = load_submissions(eo) + submissions_to_first_completion(eo, requests(prompts(4)));
  const std::string args = cat("batch --model ", model().string(), " --input ", in.string(), " --output ",
                               out.string(), " --ctx 64 --chunk 8 --batch 2");
  CliResult r = run_dsv4(cat("DSV4_FAULT_DEVICE_LOST_AFTER=", fault_after), args);
  EXPECT_EQ(WEXITSTATUS(r.status), 3) << r.out;
  EXPECT_EQ(count_of(r.out, "dsv4: error:"), 1u) << r.out;
  EXPECT_NE(r.out.find("dsv4: error: GPU device lost (vkWaitSemaphores failed: VK_ERROR_DEVICE_LOST"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("rerun the same command to resume"), std::string::npos) << r.out;
  std::map<std::string, int> count;
  for (const auto& j : read_jsonl(out)) {
    EXPECT_FALSE(j.contains("error")) << j.dump();  // in-flight sequences are not errors
    ++count[j["id"].dump()];
  }
  const size_t finished = count.size();
  EXPECT_GT(finished, 0u);
  EXPECT_LT(finished, 4u);
  for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << "id " << id;

  r = run_dsv4("", args);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(cat(4 - finished, " to run, ", finished, " already done")), std::string::npos) << r.out;
  count.clear();
  for (const auto& j : read_jsonl(out)) ++count[j["id"].dump()];
  ASSERT_EQ(count.size(), 4u);
  for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << "id " << id;
}

// A hung step: the watchdog ends `dsv4 batch` with exit 3 and its one-line error.
TEST_F(FaultTest, BatchCommandReportsAHungStepWithinTheWatchdog) {
  const fs::path dir = scratch() / "batch_hang";
  fs::create_directories(dir);
  const fs::path in = dir / "in.jsonl";
  {
    std::ofstream f(in);
    for (int i = 0; i < 4; ++i) f << "{\"id\": " << i << ", \"prompt\": \"q" << i << "\", \"max_tokens\": 4}\n";
  }
  const uint64_t base = load_submissions({.max_context = 64, .max_seqs = 2, .prefill_chunk = 8});
  const CliResult r = run_dsv4(cat("DSV4_FAULT_HANG_AFTER=", base + 2, " DSV4_WATCHDOG_MS=2000"),
                               cat("batch --model ", model().string(), " --input ", in.string(), " --output ",
                                   (dir / "out.jsonl").string(), " --ctx 64 --chunk 8 --batch 2"));
  EXPECT_EQ(WEXITSTATUS(r.status), 3) << r.out;
  EXPECT_EQ(count_of(r.out, "dsv4: error:"), 1u) << r.out;
  EXPECT_NE(r.out.find("dsv4: error: GPU step did not finish within 2000 ms"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the device may be hung"), std::string::npos) << r.out;
}

// `dsv4 run` losing the device mid-reply: exit 3 and exactly one error line, on its own line.
TEST_F(FaultTest, RunCommandReportsDeviceLostInOneLine) {
  const uint64_t base = load_submissions({.max_context = 64, .max_seqs = 1, .prefill_chunk = 8});
  const CliResult r = run_dsv4(cat("DSV4_FAULT_DEVICE_LOST_AFTER=", base + 5),
                               cat("run --model ", model().string(), " --prompt hello --max-tokens 20 --ctx 64 --chunk 8"));
  EXPECT_EQ(WEXITSTATUS(r.status), 3) << r.out;
  EXPECT_EQ(count_of(r.out, "dsv4: error:"), 1u) << r.out;
  EXPECT_NE(r.out.find("\ndsv4: error: GPU device lost ("), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;  // no abort in a destructor
}

}  // namespace
}  // namespace dsv4::test
