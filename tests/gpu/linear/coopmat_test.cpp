// The cooperative-matrix GEMM (LinearPath::GemmCoopmat, graph/vulkan/linear_coopmat.h) against
// graph::linear: the tiled kernels fed by a scratch (gemm_coopmat_quant + gemm_coopmat_tiled) and
// the untiled fallback without one. Every case runs once per cooperative-matrix API (NV, and the
// build's KHR rewrite of the same kernels, chosen through DSV4_COOPMAT) and skips where the device
// lacks it (lavapipe has neither).
//
// Tolerance (as tests/gpu/linear/linear_test.cpp): the kernels form the reference's exact
// products and sum them in another order, so each output lies within one bf16 ulp (2^-7 |y|,
// 2^-6 with out_scale's second rounding) + (K + 16) * 2^-24 * S of the reference, S = sum |x_i
// w_i| over the quantised activations, and >= 99% of outputs are bit-equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "graph/linear.h"
#include "graph/quant.h"
#include "graph/vulkan/linear.h"
#include "graph/vulkan/linear_coopmat.h"
#include "gpu/common/gpu_test_helpers.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

using graph::WeightFormat;
using gpu::LinearPath;

constexpr uint32_t kSentinel = 0x7fc0dead;  // NaN payload no kernel writes: rows past n_rows keep it

struct GemmCase {
  int64_t rows = 200, cols = 384, groups = 1;  // rows: all groups together; cols: per group
  uint32_t max_rows = 70, n_rows = 67;
  float out_scale = 1.0f;
  ScaleRange scales{};
  float x_sd = 1.0f;
  uint32_t seed = 1;
  bool scratch = true;   // the tiled kernels (when they serve the shape); false: untiled
  std::vector<float> x;  // overrides the random activations ([max_rows, groups * cols])
  int64_t zero_col = -1;  // >= 0: this weight column (of every group) is set to +0
  bool act_quant = true;  // false: wo_a's unquantised input (the bf16 einsum)
};

std::string describe(const GemmCase& c) {
  return std::to_string(c.rows) + "x" + std::to_string(c.cols) + " g" + std::to_string(c.groups) + " rows " +
         std::to_string(c.n_rows) + "/" + std::to_string(c.max_rows) + (c.scratch ? " scratch" : " no scratch");
}

// Rows [r0, r0 + n) of w as a weight of their own.
graph::Weight sub_weight(const graph::Weight& w, int64_t r0, int64_t n) {
  graph::Weight s = w;
  s.rows = n;
  s.values.assign(w.values.begin() + r0 * w.cols, w.values.begin() + (r0 + n) * w.cols);
  return s;
}

// graph::linear of one activation row (per group, then out_scale) and S per output.
void reference_row(const GemmCase& c, const graph::Weight& w, std::span<const float> x, std::span<float> y,
                   std::span<float> s) {
  const int64_t R = c.rows / c.groups, K = c.cols;
  for (int64_t g = 0; g < c.groups; ++g) {
    const graph::Weight wg = sub_weight(w, g * R, R);
    const std::span<const float> xg = x.subspan(size_t(g * K), size_t(K));
    std::span<float> yg = y.subspan(size_t(g * R), size_t(R));
    std::vector<float> xq(xg.begin(), xg.end());
    if (c.act_quant) {
      graph::linear(wg, xg, yg);
      graph::act_quant_fp8(xq, 128);
    } else {  // CpuExecutor's wo_a: an fp32 sum in column order, rounded to bf16
      for (int64_t r = 0; r < R; ++r) {
        float acc = 0.f;
        for (int64_t i = 0; i < K; ++i) acc += xg[size_t(i)] * wg.values[size_t(r * K + i)];
        yg[size_t(r)] = formats::round_bf16(acc);
      }
    }
    if (c.out_scale != 1.0f)
      for (float& v : yg) v = formats::round_bf16(v * c.out_scale);
    for (int64_t r = 0; r < R; ++r) {
      double a = 0;
      for (int64_t i = 0; i < K; ++i) a += std::fabs(double(xq[size_t(i)]) * wg.values[size_t(r * K + i)]);
      s[size_t(g * R + r)] = float(a);
    }
  }
}

// Parameter: the DSV4_COOPMAT value the case runs under ("nv" or "khr").
class CoopmatGemmTest : public GpuOpTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    GpuOpTest::SetUp();
    const char* old = std::getenv("DSV4_COOPMAT");
    saved_ = old ? std::optional<std::string>(old) : std::nullopt;
    ::setenv("DSV4_COOPMAT", GetParam(), 1);
    if (gpu::linear_coopmat_api(device()) == gpu::CoopmatApi::None)
      GTEST_SKIP() << "no fp16 " << GetParam() << " cooperative matrices on " << device().caps().name;
  }
  void TearDown() override {
    if (saved_) ::setenv("DSV4_COOPMAT", saved_->c_str(), 1);
    else ::unsetenv("DSV4_COOPMAT");
    GpuOpTest::TearDown();
  }
  std::optional<std::string> saved_;

  gpu::LinearArgs args(const GemmCase& c, const gpu::DeviceMatrix& w) {
    gpu::LinearArgs a;
    a.w = &w;
    a.max_rows = c.max_rows;
    a.groups = c.groups;
    a.out_scale = c.out_scale;
    a.act_quant = c.act_quant;
    a.path = LinearPath::GemmCoopmat;
    a.label = "coopmat_test";
    return a;
  }

  // Sets weight column `col` of every row to +0 on the device and in the reference copy.
  void zero_column(RandomMatrix& m, int64_t col) {
    const uint8_t zero = 0;
    for (int64_t r = 0; r < m.device.rows; ++r) {
      staging().upload(m.data, m.device.data.offset + uint64_t(r * m.device.cols + col), &zero, 1);
      m.host[0].values[size_t(r * m.device.cols + col)] = 0.f;
    }
  }

  // Runs the case and checks every output; `tiled` says which kernels must have run.
  void check(GemmCase c, bool tiled) {
    SCOPED_TRACE(describe(c));
    RandomMatrix m = random_matrix(device(), staging(), WeightFormat::FP8, c.rows, c.cols, c.seed, 1, c.scales);
    if (c.zero_col >= 0) zero_column(m, c.zero_col);
    const int64_t width = c.groups * c.cols;
    const std::vector<float> x = c.x.empty() ? random_bf16(size_t(c.max_rows * width), c.seed + 100, c.x_sd) : c.x;
    ASSERT_EQ(x.size(), size_t(c.max_rows * width));
    vk::Buffer xb = upload(x, "x");
    vk::Buffer yb = upload(std::vector<uint32_t>(size_t(c.max_rows * c.rows), kSentinel), "y");
    ModelConfig cfg;
    cfg.rope_head_dim = 8;
    const gpu::RopeSlots slots(cfg);
    std::vector<gpu::StepRow> rows;
    gpu::append_rows(rows, 0, std::vector<int64_t>(c.n_rows, 1), 0);
    StepBuffers st = make_step(device(), staging(), rows, c.max_rows, slots);

    gpu::LinearArgs a = args(c, m.device);
    a.step = st.step.range();
    a.x = xb.range();
    a.y = yb.range();
    vk::Buffer scratch;
    if (c.scratch) {
      const uint64_t bytes = gpu::linear_scratch_bytes(ctx(), a);
      EXPECT_EQ(bytes, gpu::gemm_coopmat_scratch_bytes(ctx(), a));
      EXPECT_EQ(bytes > 0, tiled);
      scratch = zeros(std::max<uint64_t>(bytes, 16), "scratch");
      a.scratch = scratch.range();
    }
    std::vector<vk::Dispatch> d;
    gpu::encode_linear(ctx(), a, d);
    ASSERT_EQ(d.size(), tiled ? 2u : 1u);
    EXPECT_EQ(d.front().label, tiled ? "coopmat_test/gemm_quant" : "coopmat_test/gemm_coopmat");
    const std::string shader = d.back().kernel->name();
    EXPECT_EQ(shader, std::string(tiled ? "linear/gemm_coopmat_tiled" : "linear/gemm_coopmat") +
                          (std::string(GetParam()) == "khr" ? "_khr" : ""));
    run(std::move(d));
    const std::vector<float> y = download<float>(yb, size_t(c.max_rows * c.rows));

    const float ulp_rel = c.out_scale != 1.0f ? 0x1p-6f : 0x1p-7f;
    const float reassoc = float(c.cols + 16) * 0x1p-24f * std::fabs(c.out_scale);
    int64_t equal = 0, total = 0, bad = 0;
    std::vector<float> ref(size_t(c.rows)), s(size_t(c.rows));
    for (uint32_t r = 0; r < c.max_rows; ++r) {
      const float* yr = y.data() + r * c.rows;
      if (r >= c.n_rows) {
        for (int64_t i = 0; i < c.rows; ++i)
          if (std::bit_cast<uint32_t>(yr[i]) != kSentinel && bad++ < 5) ADD_FAILURE() << "row " << r << " >= n_rows written at " << i;
        continue;
      }
      reference_row(c, m.host[0], std::span<const float>(x).subspan(size_t(r * width), size_t(width)), ref, s);
      for (int64_t i = 0; i < c.rows; ++i) {
        const float g = yr[i], e = ref[size_t(i)];
        const float err = std::fabs(g - e), tol = ulp_rel * std::fabs(e) + reassoc * s[size_t(i)];
        ++total;
        equal += std::bit_cast<uint32_t>(g) == std::bit_cast<uint32_t>(e);
        if (!(err <= tol) && bad++ < 5) ADD_FAILURE() << "row " << r << " out " << i << ": gpu " << g << " cpu " << e << " (tol " << tol << ")";
      }
    }
    if (total > 0) {
      EXPECT_GE(double(equal) / double(total), 0.99) << equal << " of " << total << " bit-equal";
    }
  }
};

// Ragged shapes for both kernels: rows not a multiple of the 128 (64) tile, K with a partial last
// 128-block and not a multiple of the 32-wide K step (400), several tiles both ways, dead rows.
TEST_P(CoopmatGemmTest, RaggedShapesMatchTheReference) {
  struct Shape {
    int64_t rows, cols;
    uint32_t max_rows, n_rows;
  };
  const Shape shapes[] = {{200, 384, 70, 67}, {384, 400, 130, 129}, {130, 1040, 20, 20}, {512, 1024, 256, 250}, {96, 128, 3, 2}};
  uint32_t seed = 1;
  for (bool scratch : {true, false}) {
    for (const Shape& sh : shapes) {
      GemmCase c;
      c.rows = sh.rows;
      c.cols = sh.cols;
      c.max_rows = sh.max_rows;
      c.n_rows = sh.n_rows;
      c.scratch = scratch;
      c.seed = seed++;
      check(c, scratch);
    }
  }
}

// wo_a: 8 groups of 128 rows (tiled) and of 48 rows (not 128-aligned: the untiled kernel even
// with a scratch offered).
TEST_P(CoopmatGemmTest, GroupedWoA) {
  for (int64_t per_group : {128, 48}) {
    GemmCase c;
    c.groups = 8;
    c.rows = 8 * per_group;
    c.cols = 256;
    c.max_rows = 65;
    c.n_rows = 65;
    check(c, per_group == 128);
  }
}

// wo_a as the executor runs it: the input not act-quantised (the reference's bf16 einsum), so the
// quantiser keeps 8-bit mantissas; then rows whose first block is 2^-40 of the rest (wide rows).
TEST_P(CoopmatGemmTest, GroupedWoAUnquantised) {
  for (bool wide : {false, true}) {
    GemmCase c;
    c.act_quant = false;
    c.groups = 8;
    c.rows = 8 * 128;
    c.cols = 256;
    c.max_rows = 65;
    c.n_rows = 65;
    c.x = random_bf16(size_t(c.max_rows * c.groups * c.cols), 7);
    if (wide)
      for (size_t i = 0; i < c.x.size(); ++i)
        if (i % 256 < 128) c.x[i] = std::ldexp(c.x[i], -40);
    check(c, true);
  }
}

TEST_P(CoopmatGemmTest, OutScaleRoundsTwice) {
  GemmCase c;
  c.out_scale = 0.0883883f;  // 1/sqrt(128)
  c.max_rows = 64;
  c.n_rows = 9;
  check(c, true);
}

// e8m0 weight scales 2^-127..2^-124 (subnormal fp32: must not be flushed) with large activations,
// and 2^103..2^113 with small ones.
TEST_P(CoopmatGemmTest, ExtremeWeightScales) {
  for (bool low : {true, false}) {
    GemmCase c;
    c.scales = low ? ScaleRange{0, 3} : ScaleRange{230, 240};
    c.x_sd = low ? 0x1p20f : 1e-3f;
    c.rows = 130;
    c.cols = 256;
    c.max_rows = c.n_rows = 20;
    check(c, true);
  }
}

// Activations at the e4m3 edges (top code, just above, underflow to subnormals/zero, huge).
TEST_P(CoopmatGemmTest, SaturatingActivations) {
  GemmCase c;
  c.rows = 96;
  c.cols = 512;
  c.max_rows = 3;
  c.n_rows = 2;
  std::vector<float> x = random_bf16(size_t(c.max_rows * c.cols), 5, 1.0f);
  const float specials[] = {448.f * 32.f, 14400.f, -3e5f, 1e-3f, -2e-4f, 1e30f, -448.f, 0.f};
  for (size_t i = 0; i < x.size(); i += 37) x[i] = formats::round_bf16(specials[(i / 37) % 8]);
  c.x = x;
  check(c, true);
}

// Rows whose 128-blocks' scales span 0..40 binades: one value 2^gap above the rest sits in a weight
// column of zeros, so the outputs come from the small blocks alone and expose any precision they
// lose (the quantiser's "wide" rows, > 22 binades, take the GEMM's per-block scaling path; 22 is
// the last gap the per-row fp16 scaling holds exactly, with fp16 subnormals).
TEST_P(CoopmatGemmTest, RowsWithWidelySpreadBlockScales) {
  GemmCase c;
  c.rows = 160;
  c.cols = 512;
  c.max_rows = 6;
  c.n_rows = 6;
  c.zero_col = 5;
  std::vector<float> x = random_bf16(size_t(c.max_rows * c.cols), 9, 1.0f);
  const int gaps[] = {0, 10, 21, 22, 23, 40};
  for (uint32_t r = 0; r < c.max_rows; ++r) x[size_t(r * c.cols + 5)] = std::ldexp(2.0f, gaps[r]);
  c.x = x;
  check(c, true);
  c.scratch = false;
  check(c, false);
}

TEST_P(CoopmatGemmTest, EmptyStepWritesNothing) {
  GemmCase c;
  c.max_rows = 4;
  c.n_rows = 0;
  check(c, true);
}

// The scratch layout of gemm_coopmat_scratch_bytes: K = 400 pads to 416 fp16 per row, 4 blocks.
TEST_P(CoopmatGemmTest, ScratchSizing) {
  gpu::DeviceMatrix w;
  w.format = WeightFormat::FP8;
  w.rows = 256;
  w.cols = 400;
  GemmCase c;
  c.max_rows = 100;
  gpu::LinearArgs a = args(c, w);
  auto r256 = [](uint64_t v) { return (v + 255) / 256 * 256; };
  EXPECT_EQ(gpu::gemm_coopmat_scratch_bytes(ctx(), a), r256(100 * 416 * 2) + r256(100 * 8) + r256(100 * 4 * 4));
  a.groups = 2;  // 128 rows per group: still tiled
  EXPECT_EQ(gpu::gemm_coopmat_scratch_bytes(ctx(), a), r256(200 * 416 * 2) + r256(200 * 8) + r256(200 * 4 * 4));
  a.groups = 4;  // 64 rows per group: untiled, no scratch
  EXPECT_EQ(gpu::gemm_coopmat_scratch_bytes(ctx(), a), 0u);
  a.groups = 1;
  a.act_quant = false;  // wo_a's unquantised input: the tiled kernels' layout too
  EXPECT_EQ(gpu::gemm_coopmat_scratch_bytes(ctx(), a), r256(100 * 416 * 2) + r256(100 * 8) + r256(100 * 4 * 4));
  a.groups = 4;  // not tiled: no coopmat kernel takes it
  EXPECT_EQ(gpu::gemm_coopmat_scratch_bytes(ctx(), a), 0u);
  EXPECT_FALSE(gpu::coopmat_serves(a));
}

INSTANTIATE_TEST_SUITE_P(Api, CoopmatGemmTest, ::testing::Values("nv", "khr"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
}  // namespace dsv4::test
