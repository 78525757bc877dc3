// The prefill grouped expert GEMM (graph/vulkan/moe.h, MoePath::Grouped: shaders/moe/sort_*.comp +
// grouped_gemm.comp) against the CPU oracle graph::moe_forward, against the decode GEMV path on the
// same route, and against itself (the atomic scatter must not change any bit). Routes are written
// from the host (ragged expert loads, one expert taking every row, all experts), except the hash
// layer case which runs the real gate. Every case runs twice: on the scalar grouped GEMM, and on
// the cooperative-matrix one (MoeArgs::coopmat: grouped_gemm_coopmat.comp, routed and shared
// experts; skipped on devices without moe_coopmat, lavapipe among them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "graph/moe.h"
#include "graph/vulkan/moe.h"
#include "gpu/common/gpu_test_helpers.h"

namespace dsv4::test {
namespace {

using graph::WeightFormat;

struct Shape {
  int64_t dim = 128, inter = 96, experts = 16, topk = 4;  // inter 96: a partial 64-row output tile
  uint32_t max_rows = 100, n_rows = 100;
  WeightFormat routed = WeightFormat::FP4;
  float swiglu_limit = 10.f;
  float x_sd = 1.f;
  ScaleRange up_scales{122, 130}, down_scales{122, 130};
};

struct Layer {
  RandomMatrix w1, w3, w2, s1, s3, s2;
  graph::MoeWeights host;
  ModelConfig cfg;
};

// One routing per step row (rows >= n_rows are never read).
using Routes = std::vector<graph::Routing>;

class GroupedGemmTest : public GpuOpTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    GpuOpTest::SetUp();
    if (IsSkipped()) return;
    if (coopmat() && !gpu::moe_coopmat(ctx())) GTEST_SKIP() << "no coopmat grouped GEMM on " << device().caps().name;
  }
  bool coopmat() const { return GetParam(); }
  uint64_t scratch_bytes(const Shape& s, uint32_t max_rows) {
    return gpu::moe_scratch_bytes(s.dim, s.inter, s.topk, max_rows, coopmat());
  }

  Layer make_layer(const Shape& s, uint32_t seed) {
    Layer l;
    l.cfg.dim = s.dim;
    l.cfg.moe_inter_dim = s.inter;
    l.cfg.n_routed_experts = s.experts;
    l.cfg.n_activated_experts = s.topk;
    l.cfg.swiglu_limit = s.swiglu_limit;
    l.w1 = random_matrix(device(), staging(), s.routed, s.inter, s.dim, seed + 1, s.experts, s.up_scales);
    l.w3 = random_matrix(device(), staging(), s.routed, s.inter, s.dim, seed + 2, s.experts, s.up_scales);
    l.w2 = random_matrix(device(), staging(), s.routed, s.dim, s.inter, seed + 3, s.experts, s.down_scales);
    l.s1 = random_matrix(device(), staging(), WeightFormat::FP8, s.inter, s.dim, seed + 4, 1, s.up_scales);
    l.s3 = random_matrix(device(), staging(), WeightFormat::FP8, s.inter, s.dim, seed + 5, 1, s.up_scales);
    l.s2 = random_matrix(device(), staging(), WeightFormat::FP8, s.dim, s.inter, seed + 6, 1, s.down_scales);
    for (int64_t e = 0; e < s.experts; ++e) l.host.experts.push_back({l.w1.host[e], l.w2.host[e], l.w3.host[e]});
    l.host.shared = {l.s1.host[0], l.s2.host[0], l.s3.host[0]};
    return l;
  }

  // topk distinct experts per row, uniformly drawn except that `favoured` (if >= 0) takes slot 0
  // of every row; weights in [0.2, 1.7] (normalised scores x route_scale are of that order).
  Routes random_routes(const Shape& s, uint32_t seed, int64_t favoured = -1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> w(0.2f, 1.7f);
    Routes r(s.max_rows);
    std::vector<int64_t> ids(size_t(s.experts));
    for (graph::Routing& row : r) {
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng);
      if (favoured >= 0) std::iter_swap(ids.begin(), std::find(ids.begin(), ids.end(), favoured));
      row.experts.assign(ids.begin(), ids.begin() + s.topk);
      for (int64_t j = 0; j < s.topk; ++j) row.weights.push_back(w(rng));
    }
    return r;
  }

  std::vector<uint32_t> route_words(const Shape& s, const Routes& r) {
    std::vector<uint32_t> words(size_t(s.max_rows * 2 * s.topk), 0u);
    for (uint32_t row = 0; row < s.n_rows; ++row)
      for (int64_t j = 0; j < s.topk; ++j) {
        words[size_t(row * 2 * s.topk + j)] = uint32_t(r[row].experts[size_t(j)]);
        std::memcpy(&words[size_t(row * 2 * s.topk + s.topk + j)], &r[row].weights[size_t(j)], 4);
      }
    return words;
  }

  StepBuffers step_for(const Shape& s) {
    std::vector<int64_t> tokens(s.n_rows);
    for (uint32_t i = 0; i < s.n_rows; ++i) tokens[i] = int64_t((i * 37 + 5) % 64);
    std::vector<gpu::StepRow> rows;
    gpu::append_rows(rows, 0, tokens, 0);
    ModelConfig rope_cfg;
    rope_cfg.rope_head_dim = 8;
    return make_step(device(), staging(), rows, s.max_rows, gpu::RopeSlots(rope_cfg));
  }

  gpu::MoeArgs moe_args(const Shape& s, const Layer& l, const StepBuffers& st, const vk::Buffer& x,
                        const vk::Buffer& route, const vk::Buffer& out, const vk::Buffer& scratch, gpu::MoePath path) {
    gpu::MoeArgs m;
    m.w1 = &l.w1.device;
    m.w3 = &l.w3.device;
    m.w2 = &l.w2.device;
    m.s1 = &l.s1.device;
    m.s3 = &l.s3.device;
    m.s2 = &l.s2.device;
    m.step = st.step.range();
    m.x = x.range();
    m.route = route.range();
    m.out = out.range();
    m.scratch = scratch.range();
    m.max_rows = s.max_rows;
    m.dim = s.dim;
    m.inter_dim = s.inter;
    m.topk = s.topk;
    m.swiglu_limit = s.swiglu_limit;
    m.path = path;
    m.coopmat = coopmat();
    return m;
  }

  // encode_moe on `routes`; `runs` submissions of one recording, each output downloaded.
  std::vector<std::vector<float>> run_experts(const Shape& s, const Layer& l, const std::vector<float>& x,
                                              const Routes& routes, gpu::MoePath path, int runs = 1) {
    const StepBuffers st = step_for(s);
    vk::Buffer xb = upload(x, "x");
    vk::Buffer route = upload(route_words(s, routes), "route");
    vk::Buffer out = zeros(uint64_t(s.max_rows * s.dim) * 4, "out");
    vk::Buffer scratch = zeros(scratch_bytes(s, s.max_rows), "scratch");
    std::vector<vk::Dispatch> d;
    gpu::encode_moe(ctx(), moe_args(s, l, st, xb, route, out, scratch, path), d);
    const auto count = [&](const char* part) {
      return size_t(std::count_if(d.begin(), d.end(), [&](const vk::Dispatch& v) { return v.label.find(part) != std::string::npos; }));
    };
    EXPECT_EQ(count(" grouped"), path == gpu::MoePath::Grouped ? 4u : 0u) << "the path asked for runs";
    EXPECT_EQ(count(" coopmat"), path == gpu::MoePath::Grouped && coopmat() ? 4u : 0u) << "expert GEMMs on cooperative matrices";
    vk::Recording rec(device(), std::move(d));
    std::vector<std::vector<float>> outs;
    for (int i = 0; i < runs; ++i) {
      rec.run();
      outs.push_back(download<float>(out, size_t(s.max_rows * s.dim)));
    }
    return outs;
  }

  // got vs want on the first n_rows rows: >= 99% bit-equal and |err| <= 2^-7 x max(|want|,
  // rms(want row)), the bound tests/gpu/moe/moe_test.cpp justifies (the kernels sum each FP4/FP8
  // dot in another order than the oracle, so g, u, h and outputs may flip one bf16 ulp). Rows past
  // n_rows must still be zero. Returns the bit-equal fraction.
  double expect_close(const Shape& s, const std::vector<float>& got, const std::vector<std::vector<float>>& want,
                      const char* what) {
    size_t equal = 0, total = 0;
    float worst = 0.f;
    for (uint32_t row = 0; row < s.n_rows; ++row) {
      const std::vector<float>& ref = want[row];
      double ss = 0;
      for (float v : ref) ss += double(v) * v;
      const float rms = float(std::sqrt(ss / double(s.dim)));
      EXPECT_GT(rms, 0.f) << what << " row " << row;
      for (int64_t i = 0; i < s.dim; ++i) {
        const float g = got[size_t(row * s.dim + i)], r = ref[size_t(i)];
        EXPECT_TRUE(std::isfinite(g) && std::isfinite(r)) << what << " row " << row << " col " << i;
        equal += g == r;
        ++total;
        worst = std::max(worst, std::fabs(g - r) / std::max(std::fabs(r), rms));
      }
    }
    const double frac = double(equal) / double(total);
    EXPECT_GE(frac, 0.99) << what << ": bit-equal " << frac;
    EXPECT_LE(worst, 1.f / 128) << what << ": bit-equal " << frac;
    std::printf("  %s: %u rows, bit-equal %.4f, max scaled error %.2e\n", what, s.n_rows, frac, double(worst));
    for (uint32_t row = s.n_rows; row < s.max_rows; ++row)
      for (int64_t i = 0; i < s.dim; ++i) EXPECT_EQ(got[size_t(row * s.dim + i)], 0.f) << what << " row " << row;
    return frac;
  }

  std::vector<std::vector<float>> oracle(const Shape& s, const Layer& l, const std::vector<float>& x,
                                         const Routes& routes) {
    std::vector<std::vector<float>> want(s.n_rows, std::vector<float>(size_t(s.dim)));
    for (uint32_t row = 0; row < s.n_rows; ++row)
      graph::moe_forward(l.host, l.cfg, routes[row], std::span(x).subspan(size_t(row * s.dim), size_t(s.dim)),
                         want[row]);
    return want;
  }

  std::vector<std::vector<float>> rows_of(const Shape& s, const std::vector<float>& flat) {
    std::vector<std::vector<float>> r;
    for (uint32_t row = 0; row < s.n_rows; ++row)
      r.emplace_back(flat.begin() + row * s.dim, flat.begin() + (row + 1) * s.dim);
    return r;
  }

  // The grouped path vs the oracle, and vs the GEMV path on the same route.
  void check(const Shape& s, uint32_t seed, int64_t favoured = -1) {
    const Layer l = make_layer(s, seed);
    const std::vector<float> x = random_bf16(size_t(s.max_rows * s.dim), seed + 10, s.x_sd);
    const Routes routes = random_routes(s, seed + 20, favoured);
    const std::vector<float> grouped = run_experts(s, l, x, routes, gpu::MoePath::Grouped)[0];
    expect_close(s, grouped, oracle(s, l, x, routes), "grouped vs oracle");
    const std::vector<float> gemv = run_experts(s, l, x, routes, gpu::MoePath::Gemv)[0];
    expect_close(s, grouped, rows_of(s, gemv), "grouped vs gemv");
  }
};

TEST_P(GroupedGemmTest, RaggedRowCountsFp4) {
  Shape s;  // 16 experts, top-4: 1 row leaves most experts empty, 100 rows give ~25 pairs each
  const Layer l = make_layer(s, 1);
  const std::vector<float> x = random_bf16(size_t(s.max_rows * s.dim), 2);
  const Routes routes = random_routes(s, 3);
  for (uint32_t n : {1u, 7u, 33u, 100u}) {
    s.n_rows = n;
    expect_close(s, run_experts(s, l, x, routes, gpu::MoePath::Grouped)[0], oracle(s, l, x, routes),
                 "grouped vs oracle");
  }
}

TEST_P(GroupedGemmTest, MatchesTheGemvPathFp4) {
  Shape s;
  s.n_rows = 70;
  check(s, 11);
}

TEST_P(GroupedGemmTest, Fp8StacksOfBaseCheckpoints) {
  Shape s;  // dim, inter not multiples of 128: short FP8 scale blocks and act-quant blocks
  s.routed = WeightFormat::FP8;
  s.dim = 160;
  s.experts = 12;
  s.topk = 3;
  s.max_rows = 40;
  s.n_rows = 33;
  check(s, 21);
}

TEST_P(GroupedGemmTest, AllExpertsSelected) {
  Shape s;  // every expert gets every row: 70 pairs each, three tiles (32, 32, 6)
  s.experts = 4;
  s.topk = 4;
  s.max_rows = 72;
  s.n_rows = 70;
  check(s, 31);
}

TEST_P(GroupedGemmTest, OneExpertTakesEveryRow) {
  Shape s;  // expert 5 in slot 0 of all 100 rows: four tiles of it, the other slots spread thinly
  s.experts = 64;
  s.topk = 2;
  check(s, 41, 5);
}

TEST_P(GroupedGemmTest, SwigluClampsAreHit) {
  Shape s;
  s.swiglu_limit = 0.5f;
  s.max_rows = 40;
  s.n_rows = 40;
  const Layer l = make_layer(s, 51);
  const std::vector<float> x = random_bf16(size_t(s.max_rows * s.dim), 52);
  // The clamps must bind: many |u| and g of the shared expert exceed the limit at these scales.
  std::vector<float> u(size_t(s.inter));
  graph::linear(l.host.shared.w3, std::span(x).first(size_t(s.dim)), u);
  EXPECT_GT(std::count_if(u.begin(), u.end(), [&](float v) { return std::fabs(v) > s.swiglu_limit; }), s.inter / 4);
  const Routes routes = random_routes(s, 53);
  expect_close(s, run_experts(s, l, x, routes, gpu::MoePath::Grouped)[0], oracle(s, l, x, routes),
               "grouped vs oracle");
}

TEST_P(GroupedGemmTest, E8m0ScalesAtTheExtremes) {
  // As moe_test's case: w1/w3 scales 2^-127..2^-121 (fp32 denormal weights: the kernel scales
  // raw-code chunk dots with an exact ldexp), inputs near 2^100, w2 scales up to 2^119.
  Shape s;
  s.x_sd = 0x1p100f;
  s.up_scales = {0, 6};
  s.down_scales = {236, 246};
  s.swiglu_limit = 7.f;
  s.max_rows = 40;
  s.n_rows = 36;
  const Layer l = make_layer(s, 61);
  const std::vector<float> x = random_bf16(size_t(s.max_rows * s.dim), 62, s.x_sd);
  const Routes routes = random_routes(s, 63);
  expect_close(s, run_experts(s, l, x, routes, gpu::MoePath::Grouped)[0], oracle(s, l, x, routes),
               "grouped vs oracle");
}

TEST_P(GroupedGemmTest, RunsAreBitIdentical) {
  // 100 rows on 2 experts: 100 pairs each land in nondeterministic order (atomic scatter over 4
  // workgroups); every output must still be the same bits on every submission.
  Shape s;
  s.experts = 2;
  s.topk = 2;
  const Layer l = make_layer(s, 71);
  const std::vector<float> x = random_bf16(size_t(s.max_rows * s.dim), 72);
  const Routes routes = random_routes(s, 73);
  const auto outs = run_experts(s, l, x, routes, gpu::MoePath::Grouped, 3);
  for (size_t i = 1; i < outs.size(); ++i)
    ASSERT_EQ(0, std::memcmp(outs[0].data(), outs[i].data(), outs[0].size() * 4)) << "run " << i;
  expect_close(s, outs[0], oracle(s, l, x, routes), "grouped vs oracle");
}

TEST_P(GroupedGemmTest, HashLayerRouteFromTheGate) {
  // The real hash gate writes the route (tid2eid order) in the same recording as the grouped path.
  Shape s;
  s.experts = 8;
  s.topk = 3;
  s.max_rows = 40;
  s.n_rows = 35;
  const Layer l = make_layer(s, 81);
  const RandomMatrix gate = random_matrix(device(), staging(), WeightFormat::BF16, s.experts, s.dim, 82, 1, {}, 0.05f);
  std::mt19937 rng(83);
  std::vector<int32_t> table(size_t(64 * s.topk));
  std::vector<int32_t> ids(size_t(s.experts));
  for (int64_t v = 0; v < 64; ++v) {
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::copy_n(ids.begin(), s.topk, table.begin() + v * s.topk);
  }
  const std::vector<float> x = random_bf16(size_t(s.max_rows * s.dim), 84);
  const StepBuffers st = step_for(s);
  vk::Buffer xb = upload(x, "x");
  vk::Buffer tid2eid = upload(table, "tid2eid");
  vk::Buffer route = zeros(gpu::route_bytes(s.topk, s.max_rows), "route");
  vk::Buffer out = zeros(uint64_t(s.max_rows * s.dim) * 4, "out");
  vk::Buffer scratch = zeros(scratch_bytes(s, s.max_rows), "scratch");
  gpu::GateArgs g;
  g.gate = &gate.device;
  g.tid2eid = tid2eid.range();
  g.step = st.step.range();
  g.x = xb.range();
  g.route = route.range();
  g.max_rows = s.max_rows;
  g.n_experts = s.experts;
  g.topk = s.topk;
  g.route_scale = 1.5f;
  std::vector<vk::Dispatch> d;
  gpu::encode_gate(ctx(), g, d);
  gpu::encode_moe(ctx(), moe_args(s, l, st, xb, route, out, scratch, gpu::MoePath::Grouped), d);
  run(std::move(d));
  const std::vector<uint32_t> words = download<uint32_t>(route, size_t(s.max_rows * 2 * s.topk));
  Routes routes(s.n_rows);
  for (uint32_t row = 0; row < s.n_rows; ++row) {
    const int64_t token = int64_t((row * 37 + 5) % 64);  // step_for's tokens
    for (int64_t j = 0; j < s.topk; ++j) {
      const uint32_t id = words[size_t(row * 2 * s.topk + j)];
      ASSERT_EQ(int64_t(id), table[size_t(token * s.topk + j)]) << "row " << row << " slot " << j;
      float w;
      std::memcpy(&w, &words[size_t(row * 2 * s.topk + s.topk + j)], 4);
      routes[row].experts.push_back(id);
      routes[row].weights.push_back(w);
    }
  }
  expect_close(s, download<float>(out, size_t(s.max_rows * s.dim)), oracle(s, l, x, routes), "grouped vs oracle");
}

TEST_P(GroupedGemmTest, AutoPathFollowsTheRowThreshold) {
  // Decode-sized recordings keep the GEMV (no sort dispatches), prefill-sized ones sort.
  Shape s;
  const Layer l = make_layer(s, 91);
  vk::Buffer dummy = zeros(16, "dummy");
  const auto labels = [&](uint32_t max_rows) {
    Shape t = s;
    t.max_rows = max_rows;
    vk::Buffer scratch = zeros(scratch_bytes(t, max_rows), "scratch");
    StepBuffers st;
    st.step = zeros(16, "step");
    std::vector<vk::Dispatch> d;
    gpu::encode_moe(ctx(), moe_args(t, l, st, dummy, dummy, dummy, scratch, gpu::MoePath::Auto), d);
    size_t sorts = 0;
    for (const vk::Dispatch& v : d) sorts += v.label.rfind("moe sort", 0) == 0;
    return sorts;
  };
  EXPECT_EQ(labels(gpu::kGroupedGemmMinRows - 1), 0u);
  EXPECT_EQ(labels(gpu::kGroupedGemmMinRows), 3u);
}

TEST_P(GroupedGemmTest, SeveralTilesPerExpert) {
  // 290 rows on 2 experts, top-2: 290 pairs each, three tiles of either kernel's size (32 or 128
  // pairs) per expert, the last one partial.
  Shape s;
  s.experts = 2;
  s.topk = 2;
  s.max_rows = 300;
  s.n_rows = 290;
  check(s, 121);
}

TEST_P(GroupedGemmTest, WeightScalesSpreadToTheFastPathsLimit) {
  // One scale per weight row, 2^-21..2^3 (gate/up) and 2^-17..2^3 (down): every tile spans <= 24
  // binades, so the coopmat kernel still folds them into its fp16 weights, and rows 14+ binades
  // below the tile's largest become fp16 subnormals (e2m1 * 2^j down to j = -23). A kernel that
  // flushed them would zero or change the outputs of ~30% of w2's rows: far from bit-equal.
  Shape s;
  s.up_scales = {106, 130, true};
  s.down_scales = {110, 130, true};
  s.max_rows = 72;
  s.n_rows = 70;
  check(s, 131);
}

TEST_P(GroupedGemmTest, WeightScalesSpreadWiderThanFp16) {
  // Scales 2^-27..2^13 in every tile: more than the 24 binades the coopmat kernel folds into fp16
  // weights, so its tiles take the slow path (per-stage partials scaled per element); the scalar
  // kernel scales every chunk anyway.
  Shape s;
  s.up_scales = {100, 140};
  s.down_scales = {95, 135};
  s.swiglu_limit = 0.f;
  s.max_rows = 72;
  s.n_rows = 70;
  check(s, 101);
}

TEST_P(GroupedGemmTest, WideActivationRows) {
  // Each row's first 128-block is 2^-40 of the rest: block exponents 40 binades apart, wider than
  // one fp16 exponent per row holds (gemm_coopmat_quant.comp's "wide" rows), so the coopmat gate/up
  // takes the slow path with per-(row, block) exponents.
  Shape s;
  s.dim = 256;
  s.max_rows = 72;
  s.n_rows = 70;
  const Layer l = make_layer(s, 111);
  std::vector<float> x = random_bf16(size_t(s.max_rows * s.dim), 112);
  for (uint32_t row = 0; row < s.max_rows; ++row)
    for (int64_t i = 0; i < 128; ++i) x[size_t(row * s.dim + i)] = std::ldexp(x[size_t(row * s.dim + i)], -40);
  const Routes routes = random_routes(s, 113);
  expect_close(s, run_experts(s, l, x, routes, gpu::MoePath::Grouped)[0], oracle(s, l, x, routes),
               "grouped vs oracle");
}

INSTANTIATE_TEST_SUITE_P(Kernels, GroupedGemmTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Coopmat" : "Scalar"; });

}  // namespace
}  // namespace dsv4::test
