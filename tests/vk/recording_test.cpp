// Recordings: dispatch lists recorded once, resubmitted, with barriers derived from declared
// accesses; indirect dispatch, specialization constants, timestamps, the watchdog.
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>

#include "common/vk_harness.h"
#include "vk/error.h"
#include "vk/kernel.h"
#include "vk/make.h"
#include "vk/recording.h"

namespace dsv4::test {
namespace {

struct Affine {
  uint32_t a, b, count;
};

vk::Dispatch affine(const vk::Kernel& k, const vk::Buffer& x, const vk::Buffer& y, uint32_t a, uint32_t b,
                    uint32_t count, const char* label) {
  return {&k,
          {{x.range(), vk::Access::Read}, {y.range(), vk::Access::Write}},
          vk::push_words(Affine{a, b, count}),
          {(count + 63) / 64, 1, 1},
          std::nullopt,
          label};
}

using RecordingTest = VulkanTest;

TEST_F(RecordingTest, ChainWithDerivedBarriersResubmitted100Times) {
  constexpr uint32_t n = 5000;
  vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0});
  std::vector<uint32_t> x(n);
  std::iota(x.begin(), x.end(), 1u);
  vk::Buffer bx = upload(x, "x");
  vk::Buffer b1 = vk::Buffer::create(device(), n * 4, vk::MemoryKind::DeviceLocal, "t1");
  vk::Buffer b2 = vk::Buffer::create(device(), n * 4, vk::MemoryKind::DeviceLocal, "t2");
  vk::Buffer b3 = vk::Buffer::create(device(), n * 4, vk::MemoryKind::DeviceLocal, "t3");
  // A: t1 = 3x+1 ; B: t2 = 5*t1+7 (RAW on t1) ; C: t1 = 2*t2+3 (RAW on t2, WAR+WAW on t1) ;
  // D: t3 = 1*t1+0 (RAW on t1)
  vk::Recording rec(device(), {affine(k, bx, b1, 3, 1, n, "A"), affine(k, b1, b2, 5, 7, n, "B"),
                               affine(k, b2, b1, 2, 3, n, "C"), affine(k, b1, b3, 1, 0, n, "D")});
  EXPECT_EQ(rec.barrier_count(), 3u);
  std::vector<uint32_t> want(n);
  for (uint32_t i = 0; i < n; ++i) want[i] = 2 * (5 * (3 * x[i] + 1) + 7) + 3;
  for (int round = 0; round < 100; ++round) {
    rec.run();
    ASSERT_EQ(download<uint32_t>(b3, n), want) << "submission " << round;
  }
}

TEST_F(RecordingTest, ResubmissionsSeeThePreviousWrites) {
  constexpr uint32_t n = 1000;
  vk::Kernel k(device(), {"test/accumulate_u32", 2, 4, {}, 0});
  std::vector<uint32_t> x(n);
  std::iota(x.begin(), x.end(), 0u);
  vk::Buffer bx = upload(x, "x");
  vk::Buffer acc = upload(std::vector<uint32_t>(n, 5u), "acc");
  vk::Recording rec(device(), {{&k,
                                {{bx.range(), vk::Access::Read}, {acc.range(), vk::Access::ReadWrite}},
                                {n},
                                {4, 1, 1},
                                std::nullopt,
                                "accumulate"}});
  for (int i = 0; i < 100; ++i) rec.submit();  // back to back, no host wait in between
  rec.wait();
  const std::vector<uint32_t> got = download<uint32_t>(acc, n);
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(got[i], 5u + 100u * i) << i;
}

TEST_F(RecordingTest, IndirectDispatchFromGpuWrittenArguments) {
  constexpr uint32_t n = 1000;
  vk::Kernel args_kernel(device(), {"test/indirect_args", 1, 4, {}, 0});
  vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0});
  std::vector<uint32_t> x(n, 2u);
  vk::Buffer bx = upload(x, "x");
  vk::Buffer y = upload(std::vector<uint32_t>(n, 0u), "y");
  vk::Buffer args = vk::Buffer::create(device(), 12, vk::MemoryKind::DeviceLocal, "args");
  vk::Dispatch use = affine(k, bx, y, 10, 1, n, "indirect affine");
  use.indirect = args.range();
  vk::Recording rec(device(), {{&args_kernel, {{args.range(), vk::Access::Write}}, {n}, {1, 1, 1}, std::nullopt, "args"},
                               use});
  EXPECT_EQ(rec.barrier_count(), 1u);
  rec.run();
  EXPECT_EQ(download<uint32_t>(args, 3), (std::vector<uint32_t>{(n + 63) / 64, 1, 1}));
  EXPECT_EQ(download<uint32_t>(y, n), std::vector<uint32_t>(n, 21u));
}

TEST_F(RecordingTest, SpecializationConstants) {
  vk::Kernel k(device(), {"test/spec_constants", 1, 0, {{0, 42}, {1, 32}}, 0});
  vk::Buffer out = upload(std::vector<uint32_t>(64, 0u), "out");
  vk::Recording rec(device(), {{&k, {{out.range(), vk::Access::Write}}, {}, {2, 1, 1}, std::nullopt, "spec"}});
  rec.run();
  EXPECT_EQ(download<uint32_t>(out, 64), std::vector<uint32_t>(64, 42u * 1000u + 32u));
  // Defaults when nothing is specialised: VALUE = 7, local size 1.
  vk::Kernel d(device(), {"test/spec_constants", 1, 0, {}, 0});
  vk::Recording rec2(device(), {{&d, {{out.range(0, 8), vk::Access::Write}}, {}, {2, 1, 1}, std::nullopt, "spec"}});
  rec2.run();
  EXPECT_EQ(download<uint32_t>(out, 2), (std::vector<uint32_t>{7001u, 7001u}));
}

TEST_F(RecordingTest, RequiredSubgroupSize) {
  const vk::Caps& caps = device().caps();
  if (!caps.subgroup_size_control) {
    EXPECT_THROW(vk::Kernel(device(), {"test/affine_u32", 2, 12, {}, caps.subgroup_size}), vk::Error);
    return;
  }
  constexpr uint32_t n = 200;
  // Every size the device offers (powers of two in [min, max]) runs the 64-wide kernel correctly.
  for (uint32_t size = caps.min_subgroup_size; size <= std::min(caps.max_subgroup_size, 64u); size *= 2) {
    vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, size});
    vk::Buffer x = upload(std::vector<uint32_t>(n, 3u), "x");
    vk::Buffer y = vk::Buffer::create(device(), n * 4, vk::MemoryKind::DeviceLocal, "y");
    vk::Recording rec(device(), {affine(k, x, y, 2, 1, n, "subgroup")});
    rec.run();
    EXPECT_EQ(download<uint32_t>(y, n), std::vector<uint32_t>(n, 7u)) << "subgroup size " << size;
  }
  EXPECT_THROW(vk::Kernel(device(), {"test/affine_u32", 2, 12, {}, caps.max_subgroup_size * 2}), vk::Error);
}

TEST_F(RecordingTest, TimestampsPerDispatch) {
  if (device().caps().timestamp_valid_bits == 0) GTEST_SKIP() << "queue has no timestamps";
  constexpr uint32_t n = 4096;
  vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0});
  vk::Buffer bx = upload(std::vector<uint32_t>(n, 1u), "x");
  vk::Buffer by = vk::Buffer::create(device(), n * 4, vk::MemoryKind::DeviceLocal, "y");
  vk::Buffer bz = vk::Buffer::create(device(), n * 4, vk::MemoryKind::DeviceLocal, "z");
  vk::RecordingOptions o;
  o.timestamps = true;
  vk::Recording rec(device(), {affine(k, bx, by, 1, 1, n, "a"), affine(k, by, bz, 1, 1, n, "b")}, o);
  EXPECT_TRUE(rec.dispatch_times_ns().empty());  // nothing submitted yet
  rec.run();
  const std::vector<double> t = rec.dispatch_times_ns();
  ASSERT_EQ(t.size(), 2u);
  for (double ns : t) EXPECT_GE(ns, 0.0);
  EXPECT_EQ(download<uint32_t>(bz, n), std::vector<uint32_t>(n, 3u));
}

TEST_F(RecordingTest, InvalidDispatchesAreClearErrors) {
  vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0});
  vk::Buffer b = vk::Buffer::create(device(), 256, vk::MemoryKind::DeviceLocal, "b");
  auto expect_error = [&](vk::Dispatch d, const char* needle) {
    try {
      vk::Recording rec(device(), {d});
      ADD_FAILURE() << "expected an error containing '" << needle << "'";
    } catch (const vk::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  vk::Dispatch ok = affine(k, b, b, 1, 1, 64, "bad");
  vk::Dispatch d = ok;
  d.buffers.pop_back();
  expect_error(d, "binds 1 buffers, the kernel has 2");
  d = ok;
  d.push.pop_back();
  expect_error(d, "push constants");
  d = ok;
  d.groups = {0, 1, 1};
  expect_error(d, "group count 0");
  d = ok;
  d.buffers[0].range = {};
  expect_error(d, "empty buffer range");
  d = ok;
  d.kernel = nullptr;
  expect_error(d, "has no kernel");
  EXPECT_THROW(vk::Kernel(device(), {"no/such/shader", 1, 0, {}, 0}), vk::Error);
  EXPECT_THROW(vk::Kernel(device(), {"test/affine_u32", 2, 6, {}, 0}), vk::Error);  // not a multiple of 4
}

TEST_F(RecordingTest, WatchdogRaisesTimeoutForAStuckSubmission) {
  // The GPU waits on an event the host sets only after the watchdog fired.
  const VkDevice dev = device().handle();
  auto eci = vk::make<VkEventCreateInfo>(VK_STRUCTURE_TYPE_EVENT_CREATE_INFO);
  VkEvent event;
  ASSERT_EQ(vkCreateEvent(dev, &eci, nullptr, &event), VK_SUCCESS);
  auto cai = vk::make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  cai.commandPool = device().command_pool();
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  VkCommandBuffer cmd;
  ASSERT_EQ(vkAllocateCommandBuffers(dev, &cai, &cmd), VK_SUCCESS);
  auto bi = vk::make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  vkBeginCommandBuffer(cmd, &bi);
  vkCmdWaitEvents(cmd, 1, &event, VK_PIPELINE_STAGE_HOST_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, nullptr, 0,
                  nullptr, 0, nullptr);
  vkEndCommandBuffer(cmd);
  const uint64_t value = device().submit(cmd);
  try {
    device().wait(value, std::chrono::milliseconds(200));
    ADD_FAILURE() << "expected vk::Timeout";
  } catch (const vk::Timeout& e) {
    EXPECT_NE(std::string(e.what()).find("did not complete within 200 ms"), std::string::npos) << e.what();
  }
  ASSERT_EQ(vkSetEvent(dev, event), VK_SUCCESS);
  device().wait(value);  // completes once released
  vkFreeCommandBuffers(dev, device().command_pool(), 1, &cmd);
  vkDestroyEvent(dev, event, nullptr);
}

}  // namespace
}  // namespace dsv4::test
