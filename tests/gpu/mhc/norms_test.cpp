// encode_rms_norm against graph::rms_norm, bit for bit: the kernel sums the squares in the
// reference's pairwise tree (graph/reduce.h) and rounds sqrt and division correctly, so no
// accumulation-order noise is left to tolerate.
#include <gtest/gtest.h>

#include "graph/norms.h"
#include "graph/vulkan/norms.h"
#include "gpu/mhc/mhc_helpers.h"

namespace dsv4::test {
namespace {

using RmsNormTest = GpuOpTest;

TEST(PairwiseDepthTest, MatchesTheRecursion) {
  EXPECT_EQ(gpu::pairwise_depth(1), 0u);
  EXPECT_EQ(gpu::pairwise_depth(8), 0u);
  EXPECT_EQ(gpu::pairwise_depth(9), 1u);
  EXPECT_EQ(gpu::pairwise_depth(17), 2u);  // 17 -> 9 -> 5
  EXPECT_EQ(gpu::pairwise_depth(7168), 10u);
  EXPECT_EQ(gpu::pairwise_depth(28672), 12u);
}

TEST_F(RmsNormTest, MatchesTheReferenceBitForBit) {
  for (uint32_t d : {9u, 200u, 256u, 1024u, 4097u}) {
    for (uint32_t per : {1u, 4u}) {
      const uint32_t max_rows = 5;
      const auto rows = ragged_rows({2, 1}, {1});
      const StepBuffers s = make_step(device(), staging(), rows, max_rows, gpu::RopeSlots(mhc_test_config()));
      const size_t total = size_t(max_rows) * per * d;
      const std::vector<float> x = random_floats(total, d + per, 0.1f, 3.f);
      RandomMatrix w = random_matrix(device(), staging(), graph::WeightFormat::BF16, 1, d, d, 1, {}, 1.f);
      vk::Buffer xb = upload(x), y = zeros(total * 4);
      std::vector<vk::Dispatch> ds;
      gpu::encode_rms_norm(ctx(), {s.step.range(), xb.range(), w.device.data, y.range(), d, max_rows, per, 1e-6f}, ds);
      run(std::move(ds));
      const auto g = download<float>(y, total);
      std::vector<float> want(total, 0.f);
      for (size_t r = 0; r < rows.size() * per; ++r)
        graph::rms_norm(std::span(x).subspan(r * d, d), w.host[0].values, 1e-6f, std::span(want).subspan(r * d, d));
      EXPECT_EQ(bit_mismatches(g, want, 0, total), 0u) << "dim " << d << " rows per step row " << per;
    }
  }
}

}  // namespace
}  // namespace dsv4::test
