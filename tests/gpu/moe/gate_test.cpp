// The MoE router on the GPU (shaders/moe/gate*.comp via graph/vulkan/moe.h encode_gate) against
// graph::route, bit for bit: expert ids in selection order and the fp32 weights' bits, on all three
// paths (one workgroup per row; logits spread over workgroups, the last of a row selecting; all
// rows' logits as one tiled product, then a selection workgroup per row). The logits are
// sequential fp32 dots on both sides, sqrt(softplus) and the normalising division correctly
// rounded, so nothing is left to tolerate (the float-float evaluation could only differ for values
// within ~2^-44 of a rounding midpoint: these fixed seeds hit none).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include "graph/moe.h"
#include "graph/vulkan/moe.h"
#include "gpu/common/gpu_test_helpers.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

struct GateCase {
  int64_t dim = 256, experts = 16, topk = 4;
  uint32_t max_rows = 4, n_rows = 3;
  bool hash = false;
  float route_scale = 2.5f;
  std::vector<float> gate;  // [experts, dim], bf16 values
  std::vector<float> bias;  // [experts] (scored layers)
  std::vector<int32_t> tid2eid;  // [64, topk] (hash layers)
  std::vector<float> x;     // [max_rows, dim]
};

GateCase random_case(int64_t dim, int64_t experts, int64_t topk, uint32_t max_rows, uint32_t n_rows, uint32_t seed) {
  GateCase c;
  c.dim = dim, c.experts = experts, c.topk = topk, c.max_rows = max_rows, c.n_rows = n_rows;
  c.gate = random_bf16(size_t(experts * dim), seed, 0.05f);
  c.x = random_bf16(size_t(max_rows * dim), seed + 1, 1.f);
  std::mt19937 rng(seed + 2);
  std::normal_distribution<float> n(0.f, 0.1f);
  for (int64_t e = 0; e < experts; ++e) c.bias.push_back(n(rng));
  return c;
}

enum class GatePath { OneWorkgroup, Split, Tiled };

class GateTest : public GpuOpTest, public ::testing::WithParamInterface<GatePath> {
 protected:
  bool split() const { return GetParam() == GatePath::Split; }
  bool tiled() const { return GetParam() == GatePath::Tiled; }
  static int64_t token_of(uint32_t row) { return int64_t((row * 37 + 5) % 64); }

  // The route words the GPU writes for `c` (max_rows rows of 2k words).
  std::vector<uint32_t> run_gate(const GateCase& c) {
    std::vector<uint16_t> bits(c.gate.size());
    for (size_t i = 0; i < bits.size(); ++i) bits[i] = formats::float_to_bf16(c.gate[i]);
    vk::Buffer gate_buf = upload(bits, "gate");
    gpu::DeviceMatrix gate;
    gate.name = "gate";
    gate.format = graph::WeightFormat::BF16;
    gate.rows = c.experts, gate.cols = c.dim;
    gate.data = gate_buf.range();
    std::vector<gpu::StepRow> rows;
    std::vector<int64_t> tokens;
    for (uint32_t r = 0; r < c.n_rows; ++r) tokens.push_back(token_of(r));
    gpu::append_rows(rows, 0, tokens, 0);
    ModelConfig rope_cfg;
    rope_cfg.rope_head_dim = 8;
    const StepBuffers st = make_step(device(), staging(), rows, c.max_rows, gpu::RopeSlots(rope_cfg));
    vk::Buffer x = upload(c.x, "x");
    vk::Buffer route = zeros(gpu::route_bytes(c.topk, c.max_rows), "route");
    vk::Buffer logits = zeros(gpu::gate_logits_bytes(c.experts, c.max_rows), "logits");
    vk::Buffer counters = zeros(gpu::gate_counters_bytes(c.max_rows), "counters");
    vk::Buffer bias = upload(c.hash ? std::vector<float>{0.f} : c.bias, "bias");
    vk::Buffer tid2eid = upload(c.hash ? c.tid2eid : std::vector<int32_t>{0}, "tid2eid");
    gpu::GateArgs a;
    a.gate = &gate;
    if (c.hash) a.tid2eid = tid2eid.range();
    else a.bias = bias.range();
    a.step = st.step.range();
    a.x = x.range();
    a.route = route.range();
    if (split()) {
      a.logits = logits.range();
      a.counters = counters.range();
    }
    if (tiled()) {
      a.logits = logits.range();
      a.tiled = true;
    }
    a.max_rows = c.max_rows;
    a.n_experts = c.experts;
    a.topk = c.topk;
    a.route_scale = c.route_scale;
    std::vector<vk::Dispatch> d;
    gpu::encode_gate(ctx(), a, d);
    EXPECT_EQ(d.size(), tiled() ? 2u : 1u);
    run(std::move(d));
    if (split()) {  // the last workgroup of each row rewound its counter for the next dispatch
      const std::vector<uint32_t> left = download<uint32_t>(counters, size_t(c.max_rows));
      EXPECT_EQ(left, std::vector<uint32_t>(size_t(c.max_rows), 0u));
    }
    return download<uint32_t>(route, size_t(c.max_rows * 2 * c.topk));
  }

  graph::Routing cpu_route(const GateCase& c, uint32_t row) {
    graph::MoeWeights w;
    w.gate.name = "gate";
    w.gate.format = graph::WeightFormat::BF16;
    w.gate.rows = c.experts, w.gate.cols = c.dim, w.gate.values = c.gate;
    w.bias = c.bias;
    w.tid2eid.assign(c.tid2eid.begin(), c.tid2eid.end());
    ModelConfig cfg;
    cfg.n_routed_experts = c.experts;
    cfg.n_activated_experts = c.topk;
    cfg.route_scale = c.route_scale;
    return graph::route(w, cfg, c.hash, std::span(c.x).subspan(size_t(row * c.dim), size_t(c.dim)), token_of(row));
  }

  // Every row's ids (in order) and weight bits equal graph::route's; rows >= n_rows untouched.
  // Returns the GPU's ids per row.
  std::vector<std::vector<int64_t>> check_bit_exact(const GateCase& c) {
    const std::vector<uint32_t> route = run_gate(c);
    std::vector<std::vector<int64_t>> ids;
    for (uint32_t row = 0; row < c.n_rows; ++row) {
      const graph::Routing want = cpu_route(c, row);
      std::vector<int64_t> got_ids;
      std::vector<uint32_t> got_w, want_w;
      for (int64_t j = 0; j < c.topk; ++j) {
        got_ids.push_back(int64_t(route[size_t(row * 2 * c.topk + j)]));
        got_w.push_back(route[size_t(row * 2 * c.topk + c.topk + j)]);
        uint32_t b;
        std::memcpy(&b, &want.weights[size_t(j)], 4);
        want_w.push_back(b);
      }
      EXPECT_EQ(got_ids, want.experts) << "row " << row;
      EXPECT_EQ(got_w, want_w) << "row " << row << " (weight bits)";
      ids.push_back(got_ids);
    }
    for (uint32_t row = c.n_rows; row < c.max_rows; ++row)
      for (int64_t j = 0; j < 2 * c.topk; ++j) EXPECT_EQ(route[size_t(row * 2 * c.topk + j)], 0u) << "row " << row;
    return ids;
  }
};

TEST_P(GateTest, RandomRowsBitExact) {
  check_bit_exact(random_case(1024, 64, 6, 5, 4, 11));
}

TEST_P(GateTest, RaggedShapesBitExact) {
  // D = 296 = 37 chunks of 8; 37 experts: a partial workgroup of the split path.
  check_bit_exact(random_case(296, 37, 5, 3, 3, 21));
}

TEST_P(GateTest, MoreExpertsThanAWorkgroupHasInvocations) {
  // 300 experts: the one-workgroup path loops over its 256 invocations, the split path runs 75
  // workgroups of 4 experts.
  check_bit_exact(random_case(256, 300, 8, 2, 2, 61));
}

TEST_P(GateTest, SeveralDoubleBufferedStagesBitExact) {
  // D = 1096 = 137 chunks of 8: the split path streams 512 columns per stage, so two full stages
  // and a ragged third alternate its two buffers; 7 experts leave the second workgroup 3 of 4.
  check_bit_exact(random_case(1096, 7, 3, 2, 2, 71));
}

TEST_P(GateTest, ManyRowsBitExact) {
  // 150 rows of D = 1064 (33 stages of 32 columns, the last 8 wide) over 70 experts: the tiled
  // path's 64 x 64 tiles, partial both ways, with dead rows past n_rows.
  check_bit_exact(random_case(1064, 70, 6, 160, 150, 81));
}

TEST_P(GateTest, WideSpreadLogitsBitExact) {
  // Large activations: logits beyond softplus's threshold 20 and far below 0 (the float-float
  // exp's tail) as well as near 0.
  GateCase c = random_case(512, 24, 4, 4, 4, 31);
  for (size_t i = 0; i < c.x.size(); ++i) c.x[i] = formats::round_bf16(c.x[i] * float(1 + (i % 7) * 6));
  const std::vector<float> logits = [&] {
    graph::Weight w;
    w.rows = c.experts, w.cols = c.dim, w.values = c.gate;
    std::vector<float> l(size_t(c.experts));
    graph::linear_fp32(w, std::span(c.x).first(size_t(c.dim)), l);
    return l;
  }();
  EXPECT_GT(*std::max_element(logits.begin(), logits.end()), 20.f);
  EXPECT_LT(*std::min_element(logits.begin(), logits.end()), -5.f);
  check_bit_exact(c);
}

TEST_P(GateTest, ExactTiesGoToTheLowerId) {
  // Experts 12 and 30 have identical rows and biases: their biased scores tie exactly, for the
  // 8th and last place (experts 0-6 are lifted above everything by their bias).
  GateCase c = random_case(256, 40, 8, 3, 3, 41);
  std::copy_n(c.gate.begin() + 12 * c.dim, c.dim, c.gate.begin() + 30 * c.dim);
  for (int64_t e = 0; e < 7; ++e) c.bias[size_t(e)] = 50.f;
  c.bias[12] = c.bias[30] = 20.f;
  for (const std::vector<int64_t>& ids : check_bit_exact(c)) {
    EXPECT_EQ(ids.back(), 12);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 30), 0);
  }
}

TEST_P(GateTest, HashLayerKeepsTid2eidOrder) {
  GateCase c = random_case(256, 16, 6, 6, 5, 51);
  c.hash = true;
  c.bias.clear();
  std::mt19937 rng(52);
  std::vector<int32_t> ids(size_t(c.experts));
  for (int v = 0; v < 64; ++v) {
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    c.tid2eid.insert(c.tid2eid.end(), ids.begin(), ids.begin() + c.topk);
  }
  const auto got = check_bit_exact(c);
  for (uint32_t row = 0; row < c.n_rows; ++row)
    EXPECT_EQ(got[row][0], c.tid2eid[size_t(token_of(row) * c.topk)]) << "row " << row;
}

// Hand-derived: the summation order is visible in the selection. D = 256, x and gate rows chosen
// so that expert 2's products are 2^25 (element 0), 1 (element 8) and five 1s (elements 136-140):
// in element order each + 1 rounds away (ulp 4) and its logit is 2^25; a 32-lane split with a
// pairwise tree (lane 0: 2^25, lane 1: 1, lane 17: 5) would give 2^25 + 8, the lane sums left to
// right 2^25 + 4. Experts 0, 1, 3 hold single products 2^25 + 4, 2^25, 2^25 + 8: sqrt keeps the
// values apart (all >= 0.1 ulp from a rounding midpoint), so the selection order is [3, 0, 1, 2]
// (2 ties 1 and loses on its id); the other orders would give [2, 3, 0, 1] and [3, 0, 2, 1].
GateCase order_case() {
  GateCase c;
  c.dim = 256, c.experts = 4, c.topk = 4, c.max_rows = 1, c.n_rows = 1, c.route_scale = 1.f;
  c.gate.assign(size_t(c.experts * c.dim), 0.f);
  c.x.assign(size_t(c.dim), 0.f);
  c.bias.assign(size_t(c.experts), 0.f);
  const auto w = [&](int64_t e, int64_t i) -> float& { return c.gate[size_t(e * c.dim + i)]; };
  c.x[0] = 1.f;
  w(2, 0) = 0x1p25f;                // lane 0 (chunk 0)
  c.x[8] = 1.f;                     // lane 1 (chunk 1)
  w(2, 8) = 1.f;
  for (int64_t i = 136; i < 141; ++i) {  // lane 17 (chunk 17)
    c.x[size_t(i)] = 1.f;
    w(2, i) = 1.f;
  }
  c.x[200] = 0x1p25f + 4.f, w(0, 200) = 1.f;
  c.x[208] = 0x1p25f, w(1, 208) = 1.f;
  c.x[216] = 0x1p25f + 8.f, w(3, 216) = 1.f;
  return c;
}

TEST_P(GateTest, HandDerivedOrderDecidesTheSelection) {
  const GateCase c = order_case();
  const std::vector<std::vector<int64_t>> ids = check_bit_exact(c);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], (std::vector<int64_t>{3, 0, 1, 2}));
}

INSTANTIATE_TEST_SUITE_P(Paths, GateTest, ::testing::Values(GatePath::OneWorkgroup, GatePath::Split, GatePath::Tiled),
                         [](const ::testing::TestParamInfo<GatePath>& i) {
                           return i.param == GatePath::Tiled ? "Tiled" : i.param == GatePath::Split ? "Split" : "OneWorkgroup";
                         });

}  // namespace
}  // namespace dsv4::test
