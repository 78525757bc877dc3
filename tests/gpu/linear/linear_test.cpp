// graph/vulkan/linear.h against the CPU reference (graph::linear, graph::linear_fp32 and the wo_a
// loop of CpuExecutor::attn_output) on random native weights, for every format x output x path.
//
// Tolerance. The kernels form the same products as the reference (weights and quantised
// activations are exact in fp32; power-of-two scales move no bits) but sum them in another order.
// Reassociating K fp32 additions changes the sum by at most K * 2^-24 * S, S = sum |x_i w_i|. A
// bf16 output may then round to the neighbouring bf16 value: one bf16 ulp <= 2^-7 |y| (two with
// out_scale's second rounding). So every output must lie within 2^-7 |y| (2^-6 scaled) +
// K * 2^-24 * S of the reference, and since such flips need the fp32 sum to land within the
// reassociation noise of a rounding boundary, >= 99% of bf16 outputs must be bit-equal.
// fp32 outputs (linear_fp32) are bounded by the reassociation term alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "graph/norms.h"
#include "graph/quant.h"
#include "graph/vulkan/attention.h"
#include "graph/vulkan/indexer.h"
#include "graph/vulkan/linear.h"
#include "gpu/common/gpu_test_helpers.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

using graph::WeightFormat;
using gpu::LinearOutput;
using gpu::LinearPath;

constexpr uint32_t kSentinel = 0x7fc0dead;  // NaN payload no kernel writes: rows past n_rows keep it

struct Case {
  WeightFormat format = WeightFormat::FP8;
  LinearOutput output = LinearOutput::Bf16;
  LinearPath path = LinearPath::Gemv;
  bool act_quant = true;
  int64_t rows = 200, cols = 384, groups = 1;  // rows: all groups together; cols: per group
  uint32_t max_rows = 3, n_rows = 2;
  float out_scale = 1.0f;
  ScaleRange scales{};
  float x_sd = 1.0f;
  uint32_t seed = 1;
  bool scratch = false;  // pass LinearArgs::scratch (the act-quant GEMV of FP8 quantising linears)
  bool fuse = true;      // LinearArgs::fuse_act_quant
  std::vector<float> x;  // overrides the random activations when set ([max_rows, groups * cols])
  const gpu::DeviceMatrix* norm = nullptr;  // LinearArgs::norm (eps 1e-6)
};

std::string describe(const Case& c) {
  const char* f[] = {"FP8", "FP4", "BF16", "F32"};
  const char* p[] = {"Auto", "Gemv", "GemmScalar", "GemmCoopmat"};
  return std::string(f[int(c.format)]) + (c.output == LinearOutput::F32 ? " f32-out " : " bf16-out ") +
         p[int(c.path)] + (c.act_quant ? " quant" : " no-quant") + " " + std::to_string(c.rows) + "x" +
         std::to_string(c.cols) + " g" + std::to_string(c.groups) + " rows " + std::to_string(c.n_rows) + "/" +
         std::to_string(c.max_rows) + (c.scratch ? " scratch" : "") + (c.fuse ? "" : " unfused");
}

// Rows [r0, r0 + n) of w as a weight of their own.
graph::Weight sub_weight(const graph::Weight& w, int64_t r0, int64_t n) {
  graph::Weight s = w;
  s.rows = n;
  s.values.assign(w.values.begin() + r0 * w.cols, w.values.begin() + (r0 + n) * w.cols);
  return s;
}

// The reference output of one activation row plus S (sum |x_i w_i| over the effective inputs)
// per output.
void reference_row(const Case& c, const graph::Weight& w, std::span<const float> x, std::span<float> y,
                   std::span<float> s) {
  const int64_t R = c.rows / c.groups, K = c.cols;
  const bool fp8_quant = c.format == WeightFormat::FP8 && c.act_quant && c.output == LinearOutput::Bf16;
  for (int64_t g = 0; g < c.groups; ++g) {
    const graph::Weight wg = sub_weight(w, g * R, R);
    const std::span<const float> xg = x.subspan(size_t(g * K), size_t(K));
    std::span<float> yg = y.subspan(size_t(g * R), size_t(R));
    if (c.output == LinearOutput::F32) {
      graph::linear_fp32(wg, xg, yg);
    } else if (c.format == WeightFormat::FP8 && !c.act_quant) {  // attn_output's wo_a loop
      for (int64_t r = 0; r < R; ++r) {
        float acc = 0.f;
        for (int64_t i = 0; i < K; ++i) acc += xg[size_t(i)] * wg.values[size_t(r * K + i)];
        yg[size_t(r)] = formats::round_bf16(acc);
      }
    } else {
      graph::linear(wg, xg, yg);
    }
    if (c.output == LinearOutput::Bf16 && c.out_scale != 1.0f)
      for (float& v : yg) v = formats::round_bf16(v * c.out_scale);
    std::vector<float> xe(xg.begin(), xg.end());
    if (fp8_quant) graph::act_quant_fp8(xe, 128);
    for (int64_t r = 0; r < R; ++r) {
      double a = 0;
      for (int64_t i = 0; i < K; ++i) a += std::fabs(double(xe[size_t(i)]) * wg.values[size_t(r * K + i)]);
      s[size_t(g * R + r)] = float(a);
    }
  }
}

class LinearTest : public GpuOpTest {
 protected:
  // Runs the case's linear on the device over activations x ([max_rows, groups * cols]) and
  // returns y ([max_rows, rows]; rows >= n_rows hold kSentinel).
  std::vector<float> run_linear(const Case& c, const RandomMatrix& m, const std::vector<float>& x) {
    EXPECT_EQ(x.size(), size_t(c.max_rows * c.groups * c.cols));
    vk::Buffer xb = upload(x, "x");
    std::vector<uint32_t> sentinel(size_t(c.max_rows * c.rows), kSentinel);
    vk::Buffer yb = upload(sentinel, "y");

    ModelConfig cfg;
    cfg.rope_head_dim = 8;
    const gpu::RopeSlots slots(cfg);
    std::vector<gpu::StepRow> rows;
    std::vector<int64_t> tokens(c.n_rows, 1);
    gpu::append_rows(rows, 0, tokens, 0);
    StepBuffers st = make_step(device(), staging(), rows, c.max_rows, slots);

    gpu::LinearArgs a;
    a.w = &m.device;
    a.step = st.step.range();
    a.x = xb.range();
    a.y = yb.range();
    a.max_rows = c.max_rows;
    a.act_quant = c.act_quant;
    a.output = c.output;
    a.groups = c.groups;
    a.out_scale = c.out_scale;
    a.path = c.path;
    a.fuse_act_quant = c.fuse;
    a.norm = c.norm;
    a.norm_eps = 1e-6f;
    a.label = "linear_test";
    vk::Buffer scratch_buffer;
    if (c.scratch) {
      const uint64_t bytes = gpu::linear_scratch_bytes(ctx(), a);
      EXPECT_GT(bytes, 0u);
      scratch_buffer = zeros(std::max<uint64_t>(bytes, 16), "scratch");
      a.scratch = scratch_buffer.range();
    }
    std::vector<vk::Dispatch> d;
    gpu::encode_linear(ctx(), a, d);
    if (c.scratch && !c.fuse) {  // the scratch-fed kernels ran, not the in-kernel quantisation
      EXPECT_EQ(d.size(), 2u);
      EXPECT_EQ(d.front().label, "linear_test/act_quant");
      EXPECT_EQ(d.back().label, "linear_test/gemv_q");
    }
    run(std::move(d));
    return download<float>(yb, size_t(c.max_rows * c.rows));
  }

  // Runs the case on the device and checks it against the reference; false when the path is
  // not available on this device (the caller skips).
  bool check(Case c) {
    const bool quant = c.format == WeightFormat::FP8 && c.act_quant && c.output == LinearOutput::Bf16;
    if (c.path == LinearPath::GemmCoopmat && (!gpu::has_linear_coopmat(device()) || !quant)) {
      return false;
    }
    SCOPED_TRACE(describe(c));
    RandomMatrix m = random_matrix(device(), staging(), c.format, c.rows, c.cols, c.seed, 1, c.scales);
    const int64_t width = c.groups * c.cols;
    const std::vector<float> x = c.x.empty() ? random_bf16(size_t(c.max_rows * width), c.seed + 100, c.x_sd) : c.x;
    const std::vector<float> y = run_linear(c, m, x);

    const bool bf16 = c.output == LinearOutput::Bf16;
    const float ulp_rel = bf16 ? (c.out_scale != 1.0f ? 0x1p-6f : 0x1p-7f) : 0.f;
    const float reassoc = float(c.cols + 16) * 0x1p-24f * (bf16 ? std::fabs(c.out_scale) : 1.f);
    int64_t equal = 0, total = 0, bad = 0;
    float worst = 0;
    std::vector<float> ref(size_t(c.rows)), s(size_t(c.rows));
    for (uint32_t r = 0; r < c.max_rows; ++r) {
      const float* yr = y.data() + r * c.rows;
      if (r >= c.n_rows) {
        for (int64_t i = 0; i < c.rows; ++i)
          if (std::bit_cast<uint32_t>(yr[i]) != kSentinel && bad++ < 5)
            ADD_FAILURE() << "row " << r << " >= n_rows written at " << i;
        continue;
      }
      reference_row(c, m.host[0], std::span<const float>(x).subspan(size_t(r * width), size_t(width)), ref, s);
      for (int64_t i = 0; i < c.rows; ++i) {
        const float g = yr[i], e = ref[size_t(i)];
        const float err = std::fabs(g - e), tol = ulp_rel * std::fabs(e) + reassoc * s[size_t(i)];
        ++total;
        equal += std::bit_cast<uint32_t>(g) == std::bit_cast<uint32_t>(e);
        worst = std::max(worst, err / std::max(tol, 1e-30f));
        if (!(err <= tol) && bad++ < 5)
          ADD_FAILURE() << "row " << r << " out " << i << ": gpu " << g << " cpu " << e << " (tol " << tol << ")";
      }
    }
    if (bf16 && total > 0) {
      EXPECT_GE(double(equal) / double(total), 0.99) << equal << " of " << total << " bit-equal";
    }
    RecordProperty("worst_err_over_tol", std::to_string(worst));
    return true;
  }
};

struct Mode {
  WeightFormat format;
  LinearOutput output;
  bool act_quant;
};

const Mode kModes[] = {
    {WeightFormat::FP8, LinearOutput::Bf16, true},  {WeightFormat::FP8, LinearOutput::Bf16, false},
    {WeightFormat::FP8, LinearOutput::F32, false},  {WeightFormat::BF16, LinearOutput::Bf16, false},
    {WeightFormat::BF16, LinearOutput::F32, false}, {WeightFormat::F32, LinearOutput::Bf16, false},
    {WeightFormat::F32, LinearOutput::F32, false},
};

class LinearModesTest : public LinearTest, public ::testing::WithParamInterface<LinearPath> {};

// Ragged rows (200: not a multiple of 8-row GEMV or 64-row GEMM tiles), cols a multiple of 128
// but not of the 512-wide GEMV chunk sweep; decode (3 max rows, 2 live) and prefill (70 / 67).
TEST_P(LinearModesTest, EveryFormatAndOutputMatchesTheReference) {
  const LinearPath path = GetParam();
  const bool gemv = path == LinearPath::Gemv;
  int ran = 0;
  for (const Mode& mode : kModes) {
    Case c;
    c.format = mode.format;
    c.output = mode.output;
    c.act_quant = mode.act_quant;
    c.path = path;
    c.max_rows = gemv ? 3 : 70;
    c.n_rows = gemv ? 2 : 67;
    c.seed = 11 + uint32_t(ran);
    ran += check(c);
  }
  if (ran == 0) GTEST_SKIP() << "path not available on " << device().caps().name;
}

// BF16/F32 weights with cols not a multiple of 16 (element loads) or of 4.
TEST_P(LinearModesTest, RaggedColumnsOfUnquantisedWeights) {
  const LinearPath path = GetParam();
  if (path == LinearPath::GemmCoopmat) GTEST_SKIP() << "coopmat serves FP8 weights";
  for (int64_t cols : {100, 200, 37}) {
    for (WeightFormat f : {WeightFormat::BF16, WeightFormat::F32}) {
      Case c;
      c.format = f;
      c.act_quant = false;
      c.cols = cols;
      c.rows = 77;
      c.path = path;
      c.max_rows = path == LinearPath::Gemv ? 5 : 66;
      c.n_rows = path == LinearPath::Gemv ? 5 : 65;
      check(c);
    }
  }
}

// wo_a: 8 groups, FP8 without activation quantisation (and with, which the kernels also serve).
TEST_P(LinearModesTest, GroupedWoA) {
  int ran = 0;
  for (bool quant : {false, true}) {
    Case c;
    c.path = GetParam();
    c.groups = 8;
    c.rows = 8 * 48;
    c.cols = 256;
    c.act_quant = quant;
    c.max_rows = c.path == LinearPath::Gemv ? 4 : 65;
    c.n_rows = c.path == LinearPath::Gemv ? 3 : 65;
    ran += check(c);
  }
  if (ran == 0) GTEST_SKIP() << "path not available";
}

TEST_P(LinearModesTest, OutScaleRoundsTwice) {
  int ran = 0;
  for (WeightFormat f : {WeightFormat::FP8, WeightFormat::BF16}) {
    Case c;
    c.format = f;
    c.path = GetParam();
    c.out_scale = 0.0883883f;  // 1/sqrt(128): not a power of two, so the second rounding matters
    c.max_rows = c.path == LinearPath::Gemv ? 8 : 64;
    c.n_rows = c.path == LinearPath::Gemv ? 8 : 9;
    ran += check(c);
  }
  if (ran == 0) GTEST_SKIP() << "path not available";
}

// e8m0 weight scales at both ends: 2^-127..2^-124 (subnormal fp32 scales: kernels must not flush
// them) with large activations, and 2^103..2^113 with small ones (sums stay finite).
TEST_P(LinearModesTest, ExtremeWeightScales) {
  int ran = 0;
  for (bool low : {true, false}) {
    Case c;
    c.path = GetParam();
    c.scales = low ? ScaleRange{0, 3} : ScaleRange{230, 240};
    c.x_sd = low ? 0x1p20f : 1e-3f;
    c.rows = 130;
    c.cols = 256;
    c.max_rows = c.path == LinearPath::Gemv ? 2 : 20;
    c.n_rows = c.path == LinearPath::Gemv ? 2 : 20;
    for (bool quant : {true, false}) {
      c.act_quant = quant;
      ran += check(c);
    }
  }
  if (ran == 0) GTEST_SKIP() << "path not available";
}

// Activations at the e4m3 edges: blocks whose amax is exactly 448 * 2^k (top code), just above it
// (next scale), mixed with values that underflow to e4m3 subnormals or zero, and huge values.
TEST_P(LinearModesTest, SaturatingActivations) {
  Case c;
  c.path = GetParam();
  c.rows = 96;
  c.cols = 512;
  c.max_rows = c.path == LinearPath::Gemv ? 2 : 3;
  c.n_rows = 2;
  std::vector<float> x = random_bf16(size_t(c.max_rows * c.cols), 5, 1.0f);
  const float specials[] = {448.f * 32.f, 14400.f, -3e5f, 1e-3f, -2e-4f, 1e30f, -448.f, 0.f};
  for (size_t i = 0; i < x.size(); i += 37) x[i] = formats::round_bf16(specials[(i / 37) % 8]);
  c.x = x;
  if (!check(c)) GTEST_SKIP() << "path not available";
}

// n_rows = 0: nothing is written.
TEST_P(LinearModesTest, EmptyStepWritesNothing) {
  Case c;
  c.path = GetParam();
  c.max_rows = 4;
  c.n_rows = 0;
  if (!check(c)) GTEST_SKIP() << "path not available";
}

std::string path_name(const ::testing::TestParamInfo<LinearPath>& info) {
  const char* n[] = {"Auto", "Gemv", "GemmScalar", "GemmCoopmat"};
  return n[int(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Paths, LinearModesTest,
                         ::testing::Values(LinearPath::Gemv, LinearPath::GemmScalar),  // GemmCoopmat: coopmat_test.cpp
                         path_name);

// The act-quant GEMV fed by act_quant's scratch (LinearArgs::scratch, fuse_act_quant off): ragged
// rows and K (not a multiple of 128: a partial last block), one thread per row up to 256 per row
// (K = 4096), batch 1..19 (blocks of 8 rows, the last partial or dead), grouped wo_a, out_scale,
// extreme weight scales and saturating activations; enough rows (>= 264 workgroups' worth) for 2
// weight rows per thread, the last pair ragged.
TEST_F(LinearTest, GemvWithScratchMatchesTheReference) {
  struct Shape {
    int64_t rows, cols, groups;
    uint32_t max_rows, n_rows;
  };
  const Shape shapes[] = {{200, 384, 1, 3, 2},  {77, 400, 1, 5, 5},   {130, 4096, 1, 1, 1}, {64, 48, 1, 16, 16},
                          {8 * 48, 256, 8, 4, 3}, {96, 1040, 1, 8, 7}, {40, 128, 1, 4, 0},
                          {8488, 1024, 1, 3, 3},  {96, 256, 1, 19, 17},  {8 * 16, 128, 8, 12, 11}};
  uint32_t seed = 40;
  for (const Shape& sh : shapes) {
    Case c;
    c.rows = sh.rows;
    c.cols = sh.cols;
    c.groups = sh.groups;
    c.max_rows = sh.max_rows;
    c.n_rows = sh.n_rows;
    c.scratch = true;
    c.fuse = false;
    c.seed = seed++;
    check(c);
  }
  Case scaled;
  scaled.scratch = true;
  scaled.fuse = false;
  scaled.out_scale = 0.0883883f;
  scaled.max_rows = scaled.n_rows = 8;
  check(scaled);
  for (bool low : {true, false}) {
    Case c;
    c.scratch = true;
    c.fuse = false;
    c.scales = low ? ScaleRange{0, 3} : ScaleRange{230, 240};
    c.x_sd = low ? 0x1p20f : 1e-3f;
    c.rows = 130;
    c.cols = 256;
    c.max_rows = c.n_rows = 2;
    check(c);
  }
  Case sat;
  sat.scratch = true;
  sat.fuse = false;
  sat.rows = 96;
  sat.cols = 512;
  sat.max_rows = 2;
  sat.n_rows = 2;
  std::vector<float> x = random_bf16(size_t(sat.max_rows * sat.cols), 5, 1.0f);
  const float specials[] = {448.f * 32.f, 14400.f, -3e5f, 1e-3f, -2e-4f, 1e30f, -448.f, 0.f};
  for (size_t i = 0; i < x.size(); i += 37) x[i] = formats::round_bf16(specials[(i / 37) % 8]);
  sat.x = x;
  check(sat);
}

// Without scratch the FP8 act_quant GEMV quantises x per workgroup: in shared memory, blocks of
// up to 8192 / cols rows (gemv_q.comp fused: one block at {2, 4096} and {1, 8192}, blocks of 2 at
// {3, 3072}, also the Gemv cases above), in K tiles past cols 8192 (gemv.comp).
TEST_F(LinearTest, GemvWithoutScratchOnLongActivations) {
  const std::pair<uint32_t, int64_t> shapes[] = {{2, 4096}, {1, 8192}, {3, 3072}, {2, 8320}};  // at and past the limits
  for (const auto& [max_rows, cols] : shapes) {
    Case c;
    c.rows = 40;
    c.cols = cols;
    c.max_rows = max_rows;
    c.n_rows = max_rows == 1 ? 1 : 2;
    c.seed = 70 + max_rows;
    check(c);
  }
}

// Decode batches larger than a block (the GEMV kernels serve 16, 8 with the scratch): every
// format and output over 20 rows, 19 live (2 blocks of 16, the last partial).
TEST_F(LinearTest, GemvServesLargeBatchesInRowBlocks) {
  uint32_t seed = 90;
  for (const Mode& mode : kModes) {
    Case c;
    c.format = mode.format;
    c.output = mode.output;
    c.act_quant = mode.act_quant;
    c.rows = 96;
    c.max_rows = 20;
    c.n_rows = 19;
    c.seed = seed++;
    check(c);
  }
}

// Issue 10: a row's output is bit-identical alone (batch 1) and at position 5 of 37 rows, with
// the other rows different, for FP8 (act_quant with and without scratch, fp32 output), BF16 and
// F32 weights, at a short and a long K (one fused block vs scratch or fused blocks of 8 or 2).
TEST_F(LinearTest, GemvRowResultIsIndependentOfTheBatch) {
  struct Variant {
    WeightFormat format;
    LinearOutput output;
    bool scratch;
  };
  const Variant variants[] = {{WeightFormat::FP8, LinearOutput::Bf16, true},  {WeightFormat::FP8, LinearOutput::Bf16, false},
                              {WeightFormat::FP8, LinearOutput::F32, false},  {WeightFormat::BF16, LinearOutput::Bf16, false},
                              {WeightFormat::BF16, LinearOutput::F32, false}, {WeightFormat::F32, LinearOutput::F32, false}};
  const std::pair<int64_t, int64_t> shapes[] = {{96, 1024}, {32, 4096}};
  uint32_t seed = 120;
  for (const Variant& v : variants) {
    for (const auto& [rows, cols] : shapes) {
      Case c;
      c.format = v.format;
      c.output = v.output;
      c.scratch = v.scratch;
      c.rows = rows;
      c.cols = cols;
      c.seed = seed++;
      SCOPED_TRACE(describe(c));
      const RandomMatrix m = random_matrix(device(), staging(), c.format, c.rows, c.cols, c.seed, 1, c.scales);
      const std::vector<float> row = random_bf16(size_t(cols), c.seed + 7, 1.0f);
      c.max_rows = c.n_rows = 1;
      const std::vector<float> alone = run_linear(c, m, row);
      c.max_rows = c.n_rows = 37;
      std::vector<float> batch = random_bf16(size_t(37 * cols), c.seed + 8, 1.0f);
      std::copy(row.begin(), row.end(), batch.begin() + 5 * cols);
      const std::vector<float> in_batch = run_linear(c, m, batch);
      int64_t differ = 0;
      for (int64_t i = 0; i < rows; ++i) {
        const uint32_t a = std::bit_cast<uint32_t>(alone[size_t(i)]), b = std::bit_cast<uint32_t>(in_batch[size_t(5 * rows + i)]);
        if (a != b && differ++ < 3) ADD_FAILURE() << "output " << i << ": alone " << alone[size_t(i)] << ", in the batch " << in_batch[size_t(5 * rows + i)];
      }
      EXPECT_EQ(differ, 0);
      EXPECT_NE(std::bit_cast<uint32_t>(in_batch[size_t(4 * rows)]), kSentinel);  // the neighbours were computed too
      EXPECT_NE(std::bit_cast<uint32_t>(in_batch[size_t(36 * rows)]), kSentinel);
    }
  }
}

// q_norm inside the FP8 GEMV (LinearArgs::norm): the same bits as graph::rms_norm (which
// rms_norm.comp matches bit for bit, tests/gpu/mhc/norms_test.cpp) followed by the plain fused GEMV,
// for several widths (pairwise trees of depth 5 to 10) and batches; one dispatch.
TEST_F(LinearTest, GemvWithTheNormFusedEqualsNormThenGemv) {
  struct Shape {
    int64_t rows, cols;
    uint32_t max_rows, n_rows;
  };
  const Shape shapes[] = {{200, 384, 3, 2}, {200, 1024, 1, 1}, {96, 1536, 5, 4}, {130, 4096, 2, 2}, {64, 8192, 1, 1}};
  uint32_t seed = 300;
  for (const Shape& sh : shapes) {
    Case c;
    c.rows = sh.rows;
    c.cols = sh.cols;
    c.max_rows = sh.max_rows;
    c.n_rows = sh.n_rows;
    c.seed = seed++;
    SCOPED_TRACE(describe(c));
    const RandomMatrix m = random_matrix(device(), staging(), c.format, c.rows, c.cols, c.seed, 1, c.scales);
    const RandomMatrix nw = random_matrix(device(), staging(), WeightFormat::BF16, 1, c.cols, c.seed + 1, 1, {}, 1.f);
    std::vector<float> x = random_bf16(size_t(c.max_rows * c.cols), c.seed + 2, 1.f);
    // Rows of different scales; the first one tiny, so that eps (1e-6) weighs in its mean square.
    for (size_t i = 0; i < x.size(); ++i) x[i] *= i < size_t(c.cols) ? 1e-3f : float(1 + i / size_t(c.cols)) * 3.f;
    std::vector<float> normed(x.size());
    for (uint32_t r = 0; r < c.max_rows; ++r)
      graph::rms_norm(std::span<const float>(x).subspan(r * c.cols, size_t(c.cols)), nw.host[0].values, 1e-6f,
                      std::span(normed).subspan(r * c.cols, size_t(c.cols)));
    const std::vector<float> want = run_linear(c, m, normed);
    c.norm = &nw.device;
    const std::vector<float> got = run_linear(c, m, x);
    EXPECT_TRUE(std::memcmp(got.data(), want.data(), got.size() * 4) == 0);
    EXPECT_NE(std::bit_cast<uint32_t>(got[0]), kSentinel);
  }
}

// A decode wq_b finishing its query heads in the GEMV (QHeadsTail): bit for bit the GEMV then
// q_heads (attention) or indexer_query (indexer), for every live activation row of a block (dead
// rows untouched), with heads spanning several workgroups (the last one finishes) and several
// heads in one workgroup, and twice in one submission (the counters rewind; they end at zero).
TEST_F(LinearTest, GemvFinishingTheQueryHeadsEqualsGemvThenTheirDispatch) {
  using Kind = gpu::QHeadsTail::Kind;
  struct Shape {
    Kind kind;
    uint32_t heads, head_dim, rope;
    int64_t cols;
    uint32_t max_rows, n_rows;
  };
  const Shape shapes[] = {{Kind::Attention, 8, 64, 16, 512, 3, 3},  {Kind::Attention, 16, 128, 64, 1024, 2, 1},
                          {Kind::Attention, 32, 512, 64, 256, 2, 2}, {Kind::Attention, 4, 32, 8, 64, 2, 2},
                          {Kind::Indexer, 64, 128, 64, 1024, 1, 1},  {Kind::Indexer, 4, 64, 16, 128, 3, 2}};
  uint32_t seed = 700;
  for (const Shape& sh : shapes) {
    const bool index = sh.kind == Kind::Indexer;
    SCOPED_TRACE(std::string(index ? "indexer: " : "attention: ") + std::to_string(sh.heads) + " heads of " +
                 std::to_string(sh.head_dim) + ", K " + std::to_string(sh.cols) + ", rows " + std::to_string(sh.n_rows) +
                 "/" + std::to_string(sh.max_rows));
    const int64_t rows = int64_t(sh.heads) * sh.head_dim;
    ModelConfig cfg;
    cfg.rope_head_dim = sh.rope;
    const gpu::RopeSlots slots(cfg);
    std::vector<gpu::StepRow> step_rows;
    gpu::append_rows(step_rows, 37, std::vector<int64_t>(sh.n_rows, 1), 0);
    const StepBuffers st = make_step(device(), staging(), step_rows, sh.max_rows, slots);
    const RandomMatrix m = random_matrix(device(), staging(), WeightFormat::FP8, rows, sh.cols, seed++);
    vk::Buffer xb = upload(random_bf16(size_t(sh.max_rows) * sh.cols, seed++, 1.f), "x");
    const std::vector<uint32_t> sentinel(size_t(sh.max_rows) * rows, kSentinel);
    vk::Buffer ya = upload(sentinel, "y (two dispatches)"), yb = upload(sentinel, "y (one)");
    vk::Buffer counters = zeros(size_t(sh.max_rows) * sh.heads * 4, "counters");
    gpu::LinearArgs a;
    a.w = &m.device;
    a.step = st.step.range();
    a.x = xb.range();
    a.max_rows = sh.max_rows;
    a.path = LinearPath::Gemv;
    a.label = "wq_b";
    const gpu::QHeadsTail tail{sh.kind, st.rope.range(), counters.range(), sh.heads, sh.head_dim, sh.rope, slots.at_pos(0), 1e-6f};
    std::vector<vk::Dispatch> d;
    a.y = ya.range();
    gpu::encode_linear(ctx(), a, d);
    if (index) {
      gpu::encode_indexer_query(ctx(), {st.step.range(), st.rope.range(), ya.range(), sh.heads, sh.head_dim, sh.rope,
                                        slots.at_pos(0), sh.max_rows},
                                d);
    } else {
      gpu::encode_q_heads(ctx(), {st.step.range(), st.rope.range(), ya.range(), sh.max_rows, sh.heads, sh.head_dim, sh.rope,
                                  slots.at_pos(0), 1e-6f, {}, {}},
                          d);
    }
    a.y = yb.range();
    a.q_heads = &tail;
    ASSERT_TRUE(gpu::linear_fuses_q_heads(ctx(), a));
    gpu::encode_linear(ctx(), a, d);
    ASSERT_EQ(d.back().label, "wq_b/gemv_q+q_heads");
    gpu::encode_linear(ctx(), a, d);  // again: the first left the counters at zero
    run(std::move(d));
    const auto want = download<uint32_t>(ya, sentinel.size()), got = download<uint32_t>(yb, sentinel.size());
    EXPECT_EQ(got, want);
    EXPECT_NE(want[size_t(sh.n_rows) * rows - 1], kSentinel) << "last live row not written";
    if (sh.n_rows < sh.max_rows) {
      EXPECT_EQ(got[size_t(sh.n_rows) * rows], kSentinel) << "dead row written";
    }
    for (uint32_t v : download<uint32_t>(counters, size_t(sh.max_rows) * sh.heads)) EXPECT_EQ(v, 0u) << "counters rewound";
  }
}

TEST_F(LinearTest, ScratchSizing) {
  gpu::DeviceMatrix w;
  w.format = WeightFormat::FP8;
  w.rows = 256;
  w.cols = 400;  // 200 fp16-pair words + 4 exponent words = 204 words per row
  gpu::LinearArgs a;
  a.w = &w;
  a.max_rows = 3;
  a.path = LinearPath::Gemv;
  EXPECT_EQ(gpu::linear_scratch_bytes(ctx(), a), 3u * 204u * 4u);
  a.groups = 2;
  EXPECT_EQ(gpu::linear_scratch_bytes(ctx(), a), 6u * 204u * 4u);
  a.act_quant = false;
  EXPECT_EQ(gpu::linear_scratch_bytes(ctx(), a), 0u);
  a.act_quant = true;
  a.path = LinearPath::GemmScalar;
  EXPECT_EQ(gpu::linear_scratch_bytes(ctx(), a), 0u);
  w.format = WeightFormat::BF16;
  a.path = LinearPath::Gemv;
  EXPECT_EQ(gpu::linear_scratch_bytes(ctx(), a), 0u);
}

TEST_F(LinearTest, AutoPicksGemvForDecodeAndGemmForPrefill) {
  gpu::DeviceMatrix w;
  w.format = WeightFormat::FP8;
  w.rows = 128;
  w.cols = 128;
  gpu::LinearArgs a;
  a.w = &w;
  a.max_rows = 1;
  EXPECT_EQ(gpu::resolve_linear_path(ctx(), a), LinearPath::Gemv);
  a.max_rows = 512;
  EXPECT_EQ(gpu::resolve_linear_path(ctx(), a),
            gpu::has_linear_coopmat(device()) ? LinearPath::GemmCoopmat : LinearPath::GemmScalar);
  a.act_quant = false;  // wo_a: the tiled coopmat kernels take its unquantised input too
  EXPECT_EQ(gpu::resolve_linear_path(ctx(), a),
            gpu::has_linear_coopmat(device()) ? LinearPath::GemmCoopmat : LinearPath::GemmScalar);
  w.format = WeightFormat::BF16;
  EXPECT_EQ(gpu::resolve_linear_path(ctx(), a), LinearPath::GemmScalar);
}

TEST_F(LinearTest, RejectsUnsupportedArguments) {
  RandomMatrix m = random_matrix(device(), staging(), WeightFormat::FP4, 64, 64, 3);
  vk::Buffer b = zeros(1 << 16);
  gpu::LinearArgs a;
  a.w = &m.device;
  a.step = a.x = a.y = b.range();
  std::vector<vk::Dispatch> d;
  EXPECT_THROW(gpu::encode_linear(ctx(), a, d), std::invalid_argument);  // FP4
  RandomMatrix f = random_matrix(device(), staging(), WeightFormat::FP8, 64, 128, 3);
  a.w = &f.device;
  a.groups = 3;  // does not divide 64 rows
  EXPECT_THROW(gpu::encode_linear(ctx(), a, d), std::invalid_argument);
  a.groups = 1;
  a.path = LinearPath::Gemv;
  a.max_rows = 17;  // more than one fused block (16 rows): the scratch path, which refuses a small scratch
  vk::Buffer big = zeros(uint64_t(17) * 128 * 4);
  a.x = a.y = big.range();
  vk::Buffer small = zeros(16);
  a.scratch = small.range();
  EXPECT_THROW(gpu::encode_linear(ctx(), a, d), std::invalid_argument);
  EXPECT_TRUE(d.empty());
}

}  // namespace
}  // namespace dsv4::test
