// Buffers, staging transfers and slices across the device's maxStorageBufferRange, and typed
// out-of-memory errors.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "common/vk_harness.h"
#include "vk/error.h"
#include "vk/kernel.h"
#include "vk/recording.h"

namespace dsv4::test {
namespace {

// Pseudo-random bytes (splitmix64): cheap enough for hundreds of MiB.
std::vector<uint8_t> random_bytes(uint64_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  uint64_t state = seed * 0x9e3779b97f4a7c15ull;
  for (uint64_t i = 0; i < n; i += 8) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(v.data() + i, &z, std::min<uint64_t>(8, n - i));
  }
  return v;
}

// maxStorageBufferRange, capped at 256 MiB so devices with GiB ranges test the same paths quickly.
uint64_t test_range(const vk::Device& device) {
  return std::min<uint64_t>(device.caps().max_storage_buffer_range, 256ull << 20);
}

using BufferTest = VulkanTest;

TEST_F(BufferTest, RoundTripsOfSizesAcrossTheRangeLimit) {
  // The device's range (lavapipe: 128 MiB); on GPUs with a multi-GiB range, the same code paths
  // at 256 MiB keep the test fast.
  const uint64_t range = test_range(device());
  // Through a ring of 32 MiB, so the large transfers stream through several chunks.
  vk::StagingRing ring(device(), 32u << 20);
  const uint64_t sizes[] = {1, 3, 4097, (16u << 20) + 1, range, range + 1};
  uint64_t seed = 1;
  for (uint64_t n : sizes) {
    if (n > device().caps().max_buffer_size || n > device().caps().max_memory_allocation_size) continue;
    SCOPED_TRACE("size " + std::to_string(n));
    const std::vector<uint8_t> data = random_bytes(n, seed++);
    vk::Buffer b = vk::Buffer::create(device(), n, vk::MemoryKind::DeviceLocal, "round trip");
    ring.upload(b, 0, data.data(), n);
    std::vector<uint8_t> back(n, 0);
    ring.download(b, 0, back.data(), n);
    ASSERT_TRUE(back == data);
  }
}

TEST_F(BufferTest, PartialTransfersAtOffsets) {
  const std::vector<uint8_t> data = random_bytes(10000, 7);
  vk::Buffer b = vk::Buffer::create(device(), 10000, vk::MemoryKind::DeviceLocal, "offsets");
  staging().upload(b, 0, data.data(), 10000);
  const std::vector<uint8_t> patch = random_bytes(333, 8);
  staging().upload(b, 4567, patch.data(), patch.size());
  std::vector<uint8_t> want = data;
  std::copy(patch.begin(), patch.end(), want.begin() + 4567);
  std::vector<uint8_t> mid(1001);
  staging().download(b, 4000, mid.data(), mid.size());
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), want.begin() + 4000));
  EXPECT_THROW(staging().upload(b, 9999, patch.data(), 2), vk::Error);
  EXPECT_THROW(staging().download(b, 10001, mid.data(), 0), vk::Error);
}

TEST_F(BufferTest, KernelOverSlicesOfABufferLargerThanTheRange) {
  // range + 1 KiB: cannot be bound whole; two slices, each processed by one dispatch.
  const uint64_t range = test_range(device());
  const uint64_t bytes = range + 1024;
  const uint64_t words = bytes / 4;
  std::vector<uint32_t> data(words);
  std::iota(data.begin(), data.end(), 0u);
  vk::Buffer b = upload(data, "sliced");
  const auto slices = b.slices(range);
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ(slices[0].offset, 0u);
  EXPECT_EQ(slices[1].offset, slices[0].size);
  EXPECT_EQ(slices[0].size + slices[1].size, bytes);
  EXPECT_LE(slices[0].size, range);

  vk::Kernel add(device(), {"test/add_u32", 1, 4, {}, 0});
  std::vector<vk::Dispatch> ds;
  for (const auto& s : slices)
    ds.push_back({&add, {{s, vk::Access::ReadWrite}}, {1000u}, {4096, 1, 1}, std::nullopt, "add slice"});
  vk::Recording rec(device(), std::move(ds));
  EXPECT_EQ(rec.barrier_count(), 0u);  // disjoint slices: no hazard
  rec.run();
  const std::vector<uint32_t> back = download<uint32_t>(b, words);
  for (uint64_t i = 0; i < words; ++i)
    if (back[i] != uint32_t(i) + 1000u) FAIL() << "word " << i << ": " << back[i];

  // Binding the whole buffer is refused with a message naming the limit.
  if (bytes <= device().caps().max_storage_buffer_range) return;  // a large-range GPU: nothing to refuse
  try {
    vk::Recording bad(device(), {{&add, {{b.range(), vk::Access::ReadWrite}}, {1u}, {1, 1, 1}, std::nullopt, "whole"}});
    FAIL() << "binding more than maxStorageBufferRange must throw";
  } catch (const vk::Error& e) {
    EXPECT_NE(std::string(e.what()).find("maxStorageBufferRange"), std::string::npos) << e.what();
  }
}

TEST_F(BufferTest, SmallSlicesRespectOffsetAlignment) {
  vk::Buffer b = vk::Buffer::create(device(), 1000, vk::MemoryKind::DeviceLocal, "small");
  const auto slices = b.slices(300);
  const uint64_t align = std::max<uint64_t>(device().caps().min_storage_buffer_offset_alignment, 4);
  uint64_t covered = 0;
  for (const auto& s : slices) {
    EXPECT_EQ(s.offset % align, 0u);
    EXPECT_EQ(s.offset, covered);
    covered += s.size;
  }
  EXPECT_EQ(covered, 1000u);
}

TEST_F(BufferTest, ArenaCarvesBuffersFromFewAllocations) {
  vk::Arena arena(device(), vk::MemoryKind::DeviceLocal, 1 << 20, "arena");
  std::vector<vk::Buffer> bufs;
  for (int i = 0; i < 10; ++i) bufs.push_back(arena.allocate(1000 + i, "piece"));
  EXPECT_EQ(arena.block_count(), 1u);
  bufs.push_back(arena.allocate(2 << 20, "big"));  // larger than a block: its own block
  EXPECT_EQ(arena.block_count(), 2u);
  // Each carved buffer holds its own data.
  for (int i = 0; i < 10; ++i) {
    const std::vector<uint8_t> v(1000 + i, uint8_t(i + 1));
    staging().upload(bufs[i], 0, v.data(), v.size());
  }
  for (int i = 0; i < 10; ++i) {
    std::vector<uint8_t> v(1000 + i);
    staging().download(bufs[i], 0, v.data(), v.size());
    EXPECT_EQ(v, std::vector<uint8_t>(1000 + i, uint8_t(i + 1))) << "buffer " << i;
  }
}

TEST_F(BufferTest, AllocationBeyondTheLimitIsATypedError) {
  const vk::Caps& caps = device().caps();
  const uint64_t too_big = caps.max_memory_allocation_size + 4096;
  try {
    vk::Buffer::create(device(), too_big, vk::MemoryKind::DeviceLocal, "huge tensor");
    FAIL() << "expected vk::OutOfDeviceMemory";
  } catch (const vk::OutOfDeviceMemory& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("huge tensor"), std::string::npos) << what;
    EXPECT_NE(what.find(vk::format_bytes(too_big)), std::string::npos) << what;
    EXPECT_TRUE(what.find("maxMemoryAllocationSize") != std::string::npos ||
                what.find("maxBufferSize") != std::string::npos)
        << what;
  }
  uint64_t largest_heap = 0;
  for (const auto& h : caps.heaps) largest_heap = std::max(largest_heap, h.size);
  EXPECT_THROW(vk::Buffer::create(device(), largest_heap * 2 + 4096, vk::MemoryKind::DeviceLocal, "x"),
               vk::OutOfDeviceMemory);
  EXPECT_THROW(vk::Buffer::create(device(), 0, vk::MemoryKind::DeviceLocal, "empty"), vk::Error);
}

}  // namespace
}  // namespace dsv4::test

namespace dsv4::test {
namespace {

TEST_F(BufferTest, HostVisibleBuffersSeeKernelResultsAfterWait) {
  // A kernel writes straight into a mapped Readback buffer; the recording's final barrier makes the
  // writes visible to the host once the submission completed.
  constexpr uint32_t n = 300;
  vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0});
  vk::Buffer x = vk::Buffer::create(device(), n * 4, vk::MemoryKind::Upload, "mapped x");
  vk::Buffer y = vk::Buffer::create(device(), n * 4, vk::MemoryKind::Readback, "mapped y");
  ASSERT_NE(x.mapped(), nullptr);
  ASSERT_NE(y.mapped(), nullptr);
  auto* xs = reinterpret_cast<uint32_t*>(x.mapped());
  for (uint32_t i = 0; i < n; ++i) xs[i] = i;
  const uint32_t push[3] = {7, 11, n};
  vk::Recording rec(device(), {{&k,
                                {{x.range(), vk::Access::Read}, {y.range(), vk::Access::Write}},
                                {push[0], push[1], push[2]},
                                {(n + 63) / 64, 1, 1},
                                std::nullopt,
                                "mapped"}});
  rec.run();
  const auto* ys = reinterpret_cast<const uint32_t*>(y.mapped());
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(ys[i], 7 * i + 11) << i;
}

}  // namespace
}  // namespace dsv4::test
