// The bandwidth probe runs and reports finite, positive figures (no timing thresholds here; the
// numbers go to bench/vk_bandwidth_bench).
#include <gtest/gtest.h>

#include <cmath>

#include "common/vk_harness.h"
#include "vk/bandwidth.h"

namespace dsv4::test {
namespace {

using BandwidthTest = VulkanTest;

TEST_F(BandwidthTest, ProbeReportsPositiveFigures) {
  vk::BandwidthOptions o;
  o.bytes = (1u << 20) + 7;  // rounded down to whole 16-byte vectors
  o.iterations = 1;
  const vk::Bandwidth bw = vk::measure_bandwidth(device(), o);
  EXPECT_EQ(bw.bytes, 1u << 20);
  EXPECT_TRUE(std::isfinite(bw.read_gbps) && bw.read_gbps > 0) << bw.read_gbps;
  EXPECT_TRUE(std::isfinite(bw.copy_gbps) && bw.copy_gbps > 0) << bw.copy_gbps;
  EXPECT_EQ(bw.timestamps, device().caps().timestamp_valid_bits > 0);
}

}  // namespace
}  // namespace dsv4::test
