// mHC kernels (hc_pre, hc_post, hc_head), embedding and the MTP add against graph/mhc.h and
// CpuExecutor's conventions. The kernels reproduce the reference's summation orders and compute
// sigmoid/exp/sqrt/division correctly rounded (shaders/mhc/ff_math.glsl), so y, post, embed and
// the MTP add are compared bit for bit. One exception: the reference's Sinkhorn calls glibc expf,
// which misrounds ~0.06% of inputs by 1 ulp (tests/graph/sampling_test.cpp measures it) where the
// kernel's exp is correctly rounded; such an ulp moves a few comb entries by a few ulps through the
// 20 normalisations (bound: 16 ulps), and can flip a bf16 rounding of hc_post's output in the rare
// element whose fp32 value sits that close to a bf16 halfway point (bound: >= 99.9% bit-equal,
// never more than 1 bf16 ulp = 2^16 fp32 ulps).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "graph/mhc.h"
#include "graph/norms.h"
#include "graph/vulkan/embed.h"
#include "graph/vulkan/mhc.h"
#include "gpu/mhc/mhc_helpers.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

struct MhcCase {
  uint32_t dim;
  std::vector<int> counts;  // rows per sequence
  uint32_t max_rows;
  float comb_scale;  // scales the Sinkhorn logits: huge -> one-hot softmax, 0 -> uniform
  uint32_t iters = 20;
};

// The MoE combine of row t derived by hand: the routed outputs (parts [rows, k+1, d]) summed in fp32
// by increasing expert id (equal ids in slot order), + the shared expert, rounded to bf16.
std::vector<float> combine_by_hand(const std::vector<float>& parts, std::span<const uint32_t> ids, uint32_t t,
                                   uint32_t k, uint32_t d) {
  std::vector<uint32_t> order(k);
  for (uint32_t j = 0; j < k; ++j) order[j] = j;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return ids[x] < ids[y]; });
  std::vector<float> f(d);
  for (uint32_t c = 0; c < d; ++c) {
    float acc = 0.f;
    for (uint32_t j : order) acc += parts[(size_t(t) * (k + 1) + j) * d + c];
    f[c] = formats::round_bf16(acc + parts[(size_t(t) * (k + 1) + k) * d + c]);
  }
  return f;
}

class MhcTest : public GpuOpTest {
 protected:
  static constexpr uint32_t kHc = 4;

  // hc_pre then hc_post on the GPU vs graph::hc_pre / hc_post per row, on both paths: one
  // workgroup per row, and the split one (per-block dots first, into a mix_partials scratch).
  void check_pre_post(const MhcCase& c, uint32_t seed) {
    for (bool split : {false, true}) {
      SCOPED_TRACE(split ? "split path" : "one workgroup per row");
      check_pre_post(c, seed, split);
    }
  }
  void check_pre_post(const MhcCase& c, uint32_t seed, bool split) {
    const uint32_t d = c.dim, width = kHc * d, m_out = (2 + kHc) * kHc;
    const auto rows = ragged_rows(c.counts, {1});
    const uint32_t n = uint32_t(rows.size());
    ASSERT_LE(n, c.max_rows);
    const StepBuffers s = make_step(device(), staging(), rows, c.max_rows, gpu::RopeSlots(mhc_test_config()));
    const std::vector<float> streams = random_bf16(size_t(c.max_rows) * width, seed);
    const std::vector<float> fn = random_floats(size_t(m_out) * width, seed + 1, 0.f, 0.02f);
    const std::vector<float> base = random_floats(m_out, seed + 2, 0.f, 1.f);
    const std::vector<float> scale = {0.7f, 0.3f, c.comb_scale};
    const std::vector<float> f = random_bf16(size_t(c.max_rows) * d, seed + 3);
    vk::Buffer xs = upload(streams, "streams"), fnb = upload(fn, "fn"), bb = upload(base, "base"),
               sb = upload(scale, "scale"), fb = upload(f, "f");
    vk::Buffer y = zeros(size_t(c.max_rows) * d * 4), post = zeros(size_t(c.max_rows) * kHc * 4),
               comb = zeros(size_t(c.max_rows) * kHc * kHc * 4);
    std::vector<vk::Dispatch> ds;
    gpu::HcPreArgs pre{s.step.range(), xs.range(), {fnb.range(), bb.range(), sb.range()}, y.range(), post.range(),
                       comb.range(), d, kHc, c.max_rows, c.iters, 1e-6f, 1e-6f};
    // Filled with NaN so a partial the kernels failed to write would show.
    vk::Buffer scratch = upload(std::vector<float>(gpu::hc_mix_scratch_bytes(d, kHc, c.max_rows) / 4, NAN), "scratch");
    if (split) pre.mix_partials = scratch.range();
    // The split path also runs the block's RMSNorm of y (attn_norm / ffn_norm) when given its
    // weight: bit for bit graph::rms_norm of the y it wrote. Filled with NaN: rows past n_rows
    // must stay untouched.
    RandomMatrix nw = random_matrix(device(), staging(), graph::WeightFormat::BF16, 1, d, d, 1, {}, 1.f);
    const std::vector<float> norm_init(size_t(c.max_rows) * d, NAN);
    vk::Buffer norm_out = upload(norm_init, "norm out");
    if (split) {
      pre.norm_weight = nw.device.data;
      pre.norm_out = norm_out.range();
      pre.rms_eps = 1e-5f;
      EXPECT_TRUE(gpu::hc_pre_fuses_norm(pre));
    }
    gpu::encode_hc_pre(ctx(), pre, ds);
    gpu::encode_hc_post(ctx(), {s.step.range(), fb.range(), post.range(), comb.range(), xs.range(), d, kHc, c.max_rows, {}, {}, 0},
                        ds);
    run(std::move(ds));
    const auto gy = download<float>(y, size_t(c.max_rows) * d);
    const auto gpost = download<float>(post, size_t(c.max_rows) * kHc);
    const auto gcomb = download<float>(comb, size_t(c.max_rows) * kHc * kHc);
    const auto gx = download<float>(xs, size_t(c.max_rows) * width);

    std::vector<float> ry(gy.size(), 0.f), rpost(gpost.size(), 0.f), rcomb(gcomb.size(), 0.f), rx = streams;
    const graph::HcParams params{fn, base, scale};
    for (uint32_t t = 0; t < n; ++t) {
      const std::span<const float> x(streams.data() + size_t(t) * width, width);
      const graph::HcMix mix = graph::hc_pre(x, params, kHc, c.iters, 1e-6f, 1e-6f, std::span(ry).subspan(t * d, d));
      std::copy(mix.post.begin(), mix.post.end(), rpost.begin() + t * kHc);
      std::copy(mix.comb.begin(), mix.comb.end(), rcomb.begin() + t * kHc * kHc);
      graph::hc_post(std::span(f).subspan(t * d, d), mix, kHc, std::span(rx).subspan(size_t(t) * width, width));
    }
    EXPECT_EQ(bit_mismatches(gpost, rpost, 0, size_t(n) * kHc), 0u) << "post";
    EXPECT_LE(max_ulps(gcomb, rcomb, 0, size_t(n) * kHc * kHc), 16) << "comb";
    EXPECT_EQ(bit_mismatches(gy, ry, 0, size_t(n) * d), 0u) << "y";
    if (split) {
      const auto gnorm = download<float>(norm_out, size_t(c.max_rows) * d);
      std::vector<float> rnorm = norm_init;
      for (uint32_t t = 0; t < n; ++t)
        graph::rms_norm(std::span<const float>(ry).subspan(t * d, d), nw.host[0].values, 1e-5f, std::span(rnorm).subspan(t * d, d));
      EXPECT_EQ(bit_mismatches(gnorm, rnorm, 0, gnorm.size()), 0u) << "fused rms_norm";
    }
    EXPECT_LE(bit_mismatches(gx, rx, 0, size_t(n) * width), size_t(n) * width / 1000) << "hc_post streams";
    EXPECT_LE(max_ulps(gx, rx, 0, size_t(n) * width), int64_t(1) << 16) << "hc_post streams";
    // Rows >= n_rows are untouched: y stays zero, the streams keep their input.
    EXPECT_EQ(bit_mismatches(gy, std::vector<float>(gy.size(), 0.f), size_t(n) * d, gy.size()), 0u);
    EXPECT_EQ(bit_mismatches(gx, streams, size_t(n) * width, gx.size()), 0u);
    for (uint32_t t = 0; t < n; ++t) {  // Sinkhorn: columns sum to ~1 (the last normalisation)
      for (uint32_t k = 0; k < kHc; ++k) {
        float col = 0.f;
        for (uint32_t j = 0; j < kHc; ++j) col += gcomb[t * kHc * kHc + j * kHc + k];
        EXPECT_NEAR(col, 1.f, 1e-4f) << "row " << t << " column " << k;
      }
    }
  }
};

TEST_F(MhcTest, PreAndPostMatchTheReferenceBitForBit) {
  check_pre_post({200, {3, 1}, 6, 0.5f}, 11);
  check_pre_post({256, {1, 1, 1}, 3, 0.5f}, 12);
  check_pre_post({1024, {2, 1}, 4, 0.5f}, 13);
  check_pre_post({7168, {1}, 2, 0.5f}, 14);  // the largest model dim: 16 pairwise slots per invocation
  // A prefill-sized recording: the split path's partials take several rows a workgroup (8, or
  // what the device's shared memory holds), the last group partial (67 rows).
  check_pre_post({512, {40, 27}, 72, 0.5f}, 15);
}

// The FFN's hc_post combines the MoE's expert outputs itself (HcPostArgs::parts): f = bf16(routed
// outputs summed in fp32 by increasing expert id, equal ids in slot order, + the shared expert),
// derived here by hand, then graph::hc_post with the same post and comb: bit for bit. Ids repeat
// and arrive unsorted; 3 live rows of 4.
TEST_F(MhcTest, PostCombiningTheMoeOutputsMatchesCombineThenPost) {
  const uint32_t d = 300, max_rows = 4, n = 3, k = 5, width = kHc * d;
  const auto rows = ragged_rows({int(n)}, {1});
  const StepBuffers s = make_step(device(), staging(), rows, max_rows, gpu::RopeSlots(mhc_test_config()));
  const std::vector<float> streams = random_bf16(size_t(max_rows) * width, 41);
  std::vector<float> parts = random_floats(size_t(max_rows) * (k + 1) * d, 42, 0.f, 3.f);
  // In even columns of rows 0 and 1, values that cancel (1e8 + 1 == 1e8 in fp32), so another
  // summation order (slot order, or equal ids reversed) gives another result even after bf16.
  const float cancel[2][k + 1] = {{1.f, 1e8f, 1.f, -1e8f, 3.f, 0.25f}, {1e8f, -1e8f, 1.f, 1.f, 0.5f, 0.25f}};
  for (uint32_t r = 0; r < 2; ++r)
    for (uint32_t j = 0; j <= k; ++j)
      for (uint32_t c = 0; c < d; c += 2) parts[(size_t(r) * (k + 1) + j) * d + c] = cancel[r][j];
  const std::vector<float> post = random_floats(size_t(max_rows) * kHc, 43, 1.f, 0.5f);
  const std::vector<float> comb = random_floats(size_t(max_rows) * kHc * kHc, 44, 0.25f, 0.1f);
  const uint32_t ids[max_rows][k] = {{7, 2, 9, 2, 0}, {3, 3, 3, 1, 8}, {5, 4, 3, 2, 1}, {0, 1, 2, 3, 4}};
  std::vector<uint32_t> route(size_t(max_rows) * 2 * k, 0u);
  for (uint32_t r = 0; r < max_rows; ++r)
    for (uint32_t j = 0; j < k; ++j) route[r * 2 * k + j] = ids[r][j];  // the weights are not read
  vk::Buffer xs = upload(streams, "streams"), pb = upload(parts, "parts"), postb = upload(post, "post"),
             combb = upload(comb, "comb"), rb = upload(route, "route");
  std::vector<vk::Dispatch> ds;
  gpu::HcPostArgs a{s.step.range(), {}, postb.range(), combb.range(), xs.range(), d, kHc, max_rows, rb.range(), pb.range(), k};
  gpu::encode_hc_post(ctx(), a, ds);
  run(std::move(ds));
  const auto gx = download<float>(xs, size_t(max_rows) * width);

  std::vector<float> rx = streams;
  for (uint32_t t = 0; t < n; ++t) {
    const std::vector<float> f = combine_by_hand(parts, ids[t], t, k, d);
    graph::HcMix mix;
    mix.post.assign(post.begin() + t * kHc, post.begin() + (t + 1) * kHc);
    mix.comb.assign(comb.begin() + t * kHc * kHc, comb.begin() + (t + 1) * kHc * kHc);
    graph::hc_post(f, mix, kHc, std::span(rx).subspan(size_t(t) * width, width));
  }
  EXPECT_EQ(bit_mismatches(gx, rx, 0, gx.size()), 0u);  // rows >= n_rows untouched too
}

// hc_post fused with the next hc_pre (HcPostPreArgs): hc_post of the old streams with a given post
// and comb into a second stream buffer, then hc_pre of the result with the next sub-layer's
// weights. Against graph::hc_post then graph::hc_pre (and graph::rms_norm), with the tolerances
// of check_pre_post: the streams out are bit-exact here (their post and comb are inputs), the new
// comb within the glibc-expf bound. The old streams stay as they were, rows past n_rows untouched,
// the counters back at zero, so the dispatch can run again: it runs twice, the second time on
// what the first wrote (as consecutive sub-layers do), with the MoE combine in the first.
TEST_F(MhcTest, PostFusedWithTheNextPreMatchesPostThenPre) {
  struct Case {
    uint32_t dim;
    std::vector<int> counts;
    uint32_t max_rows;
  };
  // 200: blocks straddle streams (the whole hc_pre only: the blocks are no tree nodes); 1024: 8
  // blocks per row; 4096: V4-Flash's 32 blocks. tail false: the dispatch stops after the mix
  // partials and node sums, and hc_pre_split follows (HcPreArgs::partials_ready).
  for (const Case& c : {Case{200, {2, 1}, 4}, Case{1024, {1}, 1}, Case{4096, {1, 1}, 3}})
  for (const bool tail : {true, false}) {
    if (!tail && c.dim == 200) continue;
    SCOPED_TRACE("dim " + std::to_string(c.dim) + (tail ? " with the tail" : " without the tail"));
    const uint32_t d = c.dim, width = kHc * d, m_out = (2 + kHc) * kHc, k = 3, seed = d;
    const auto rows = ragged_rows(c.counts, {1});
    const uint32_t n = uint32_t(rows.size());
    const StepBuffers s = make_step(device(), staging(), rows, c.max_rows, gpu::RopeSlots(mhc_test_config()));
    const std::vector<float> streams = random_bf16(size_t(c.max_rows) * width, seed);
    std::vector<float> fn[2], base[2];
    for (int l = 0; l < 2; ++l) {
      fn[l] = random_floats(size_t(m_out) * width, seed + 1 + l, 0.f, 0.02f);
      base[l] = random_floats(m_out, seed + 3 + l, 0.f, 1.f);
    }
    const std::vector<float> scale = {0.7f, 0.3f, 0.5f};
    const std::vector<float> f = random_bf16(size_t(c.max_rows) * d, seed + 5);
    const std::vector<float> parts = random_floats(size_t(c.max_rows) * (k + 1) * d, seed + 6, 0.f, 1.f);
    std::vector<uint32_t> route(size_t(c.max_rows) * 2 * k);
    for (size_t i = 0; i < route.size(); ++i) route[i] = uint32_t((i * 7) % 5);  // repeats, unsorted
    const std::vector<float> post0 = random_floats(size_t(c.max_rows) * kHc, seed + 7, 1.f, 0.5f);
    const std::vector<float> comb0 = random_floats(size_t(c.max_rows) * kHc * kHc, seed + 8, 0.25f, 0.1f);
    vk::Buffer xa = upload(streams, "streams a"), xb = upload(std::vector<float>(streams.size(), NAN), "streams b"),
               fb = upload(f, "f"), pb = upload(parts, "parts"), rb = upload(route, "route"),
               sb = upload(scale, "scale"), postb = upload(post0, "post"), combb = upload(comb0, "comb");
    vk::Buffer fnb[2] = {upload(fn[0], "fn0"), upload(fn[1], "fn1")};
    vk::Buffer bb[2] = {upload(base[0], "base0"), upload(base[1], "base1")};
    vk::Buffer y = zeros(size_t(c.max_rows) * d * 4), counters = zeros(size_t(c.max_rows) * 4);
    vk::Buffer scratch = upload(std::vector<float>(gpu::hc_mix_scratch_bytes(d, kHc, c.max_rows) / 4, NAN), "scratch");
    RandomMatrix nw = random_matrix(device(), staging(), graph::WeightFormat::BF16, 1, d, d, 1, {}, 1.f);
    const std::vector<float> norm_init(size_t(c.max_rows) * d, NAN);
    vk::Buffer norm_out = upload(norm_init, "norm out");
    // Two fused calls: a -> b combining the MoE parts with layer 0's pre, then b -> a with f and
    // layer 1's pre.
    std::vector<vk::Dispatch> ds;
    for (int l = 0; l < 2; ++l) {
      gpu::HcPostPreArgs a;
      a.post = {s.step.range(), fb.range(), postb.range(), combb.range(), (l ? xb : xa).range(), d, kHc, c.max_rows, {}, {}, 0};
      if (l == 0) {
        a.post.route = rb.range();
        a.post.parts = pb.range();
        a.post.topk = k;
      }
      a.pre = {s.step.range(), (l ? xa : xb).range(), {fnb[l].range(), bb[l].range(), sb.range()}, y.range(), postb.range(),
               combb.range(), d, kHc, c.max_rows, 20, 1e-6f, 1e-6f};
      a.pre.mix_partials = scratch.range();
      a.pre.norm_weight = nw.device.data;
      a.pre.norm_out = norm_out.range();
      a.pre.rms_eps = 1e-5f;
      a.counters = counters.range();
      a.tail = tail;
      ASSERT_TRUE(gpu::hc_post_pre_supported(ctx(), a.pre, tail));
      gpu::encode_hc_post_pre(ctx(), a, ds);
      if (!tail) {
        a.pre.partials_ready = true;
        gpu::encode_hc_pre(ctx(), a.pre, ds);
      }
      if (l == 0) {  // keep the first call's outputs
        run(std::move(ds));
        ds.clear();
      }
      if (l == 0) {
        const auto gx = download<float>(xb, streams.size());
        const auto gy = download<float>(y, size_t(c.max_rows) * d);
        const auto gpost = download<float>(postb, post0.size());
        const auto gcomb = download<float>(combb, comb0.size());
        const auto gnorm = download<float>(norm_out, norm_init.size());
        // The reference: combine by hand (stable by id), hc_post, hc_pre, rms_norm.
        std::vector<float> rx(streams.size(), NAN), ry(gy.size(), 0.f), rpost = post0, rcomb = comb0, rnorm = norm_init;
        for (uint32_t t = 0; t < n; ++t) {
          const std::vector<float> fc = combine_by_hand(parts, std::span(route).subspan(t * 2 * k, k), t, k, d);
          graph::HcMix mix;
          mix.post.assign(post0.begin() + t * kHc, post0.begin() + (t + 1) * kHc);
          mix.comb.assign(comb0.begin() + t * kHc * kHc, comb0.begin() + (t + 1) * kHc * kHc);
          std::copy(streams.begin() + size_t(t) * width, streams.begin() + size_t(t + 1) * width, rx.begin() + size_t(t) * width);
          graph::hc_post(fc, mix, kHc, std::span(rx).subspan(size_t(t) * width, width));
          const graph::HcMix next = graph::hc_pre(std::span<const float>(rx).subspan(size_t(t) * width, width),
                                                  graph::HcParams{fn[0], base[0], scale}, kHc, 20, 1e-6f, 1e-6f,
                                                  std::span(ry).subspan(t * d, d));
          std::copy(next.post.begin(), next.post.end(), rpost.begin() + t * kHc);
          std::copy(next.comb.begin(), next.comb.end(), rcomb.begin() + t * kHc * kHc);
          graph::rms_norm(std::span<const float>(ry).subspan(t * d, d), nw.host[0].values, 1e-5f,
                          std::span(rnorm).subspan(t * d, d));
        }
        EXPECT_EQ(bit_mismatches(gx, rx, 0, rx.size()), 0u) << "new streams (rows past n_rows left NaN)";
        EXPECT_EQ(bit_mismatches(gpost, rpost, 0, rpost.size()), 0u) << "post";
        EXPECT_LE(max_ulps(gcomb, rcomb, 0, size_t(n) * kHc * kHc), 16) << "comb";
        EXPECT_EQ(bit_mismatches(gcomb, rcomb, size_t(n) * kHc * kHc, rcomb.size()), 0u) << "comb past n_rows";
        EXPECT_EQ(bit_mismatches(gy, ry, 0, gy.size()), 0u) << "y";
        EXPECT_EQ(bit_mismatches(gnorm, rnorm, 0, gnorm.size()), 0u) << "fused rms_norm";
        EXPECT_EQ(bit_mismatches(download<float>(xa, streams.size()), streams, 0, streams.size()), 0u) << "old streams";
        for (uint32_t v : download<uint32_t>(counters, c.max_rows)) EXPECT_EQ(v, 0u) << "counters rewound";
      }
    }
    // The second call against the unfused kernels on the first call's outputs (already checked):
    // same bits.
    const auto x1 = download<float>(xb, streams.size());
    const auto post1 = download<float>(postb, post0.size());
    const auto comb1 = download<float>(combb, comb0.size());
    run(std::move(ds));
    vk::Buffer ux = upload(x1, "unfused streams"), upost = upload(post1, "unfused post"), ucomb = upload(comb1, "unfused comb");
    vk::Buffer uy = zeros(size_t(c.max_rows) * d * 4);
    vk::Buffer unorm = upload(norm_init, "unfused norm"), uscratch = zeros(scratch.size());
    std::vector<vk::Dispatch> us;
    gpu::encode_hc_post(ctx(), {s.step.range(), fb.range(), upost.range(), ucomb.range(), ux.range(), d, kHc, c.max_rows, {}, {}, 0}, us);
    gpu::HcPreArgs pre{s.step.range(), ux.range(), {fnb[1].range(), bb[1].range(), sb.range()}, uy.range(), upost.range(),
                       ucomb.range(), d, kHc, c.max_rows, 20, 1e-6f, 1e-6f};
    pre.mix_partials = uscratch.range();
    pre.norm_weight = nw.device.data;
    pre.norm_out = unorm.range();
    pre.rms_eps = 1e-5f;
    gpu::encode_hc_pre(ctx(), pre, us);
    run(std::move(us));
    const size_t live = size_t(n) * width;
    EXPECT_EQ(bit_mismatches(download<float>(xa, streams.size()), download<float>(ux, streams.size()), 0, live), 0u)
        << "second call's streams";
    EXPECT_EQ(bit_mismatches(download<float>(y, size_t(c.max_rows) * d), download<float>(uy, size_t(c.max_rows) * d), 0,
                             size_t(n) * d), 0u) << "second call's y";
    EXPECT_EQ(bit_mismatches(download<float>(postb, post0.size()), download<float>(upost, post0.size()), 0, post0.size()), 0u);
    EXPECT_EQ(bit_mismatches(download<float>(combb, comb0.size()), download<float>(ucomb, comb0.size()), 0, comb0.size()), 0u);
    EXPECT_EQ(bit_mismatches(download<float>(norm_out, norm_init.size()), download<float>(unorm, norm_init.size()), 0,
                             norm_init.size()), 0u) << "second call's norm";
    for (uint32_t v : download<uint32_t>(counters, c.max_rows)) EXPECT_EQ(v, 0u) << "counters rewound";
  }
}

TEST_F(MhcTest, SinkhornEdgeCases) {
  check_pre_post({256, {2}, 3, 1e4f}, 21);    // huge logits: softmax rows one-hot (exp underflows)
  check_pre_post({256, {2}, 3, 1e-6f}, 22);   // tiny logits: nearly uniform doubly stochastic
  check_pre_post({200, {1}, 2, 0.f}, 23);     // exactly the bias
  check_pre_post({200, {2}, 2, 0.5f, 1}, 24); // one iteration: softmax + a column pass
}

// Rows 2, 3, 5 end their sequences; then a prefill-sized recording (rows 39 and 66), where the
// split path's partials take several rows a workgroup with hc_head's 4 outputs.
TEST_F(MhcTest, HeadWritesTheLastRowOfEachSequence) {
  for (const auto& [max_rows, counts] : {std::pair{7u, std::vector<int>{3, 1, 2}}, std::pair{70u, std::vector<int>{40, 27}}})
  for (bool split : {false, true}) {
  SCOPED_TRACE(std::string(split ? "split path" : "one workgroup per row") + ", max_rows " + std::to_string(max_rows));
  const uint32_t d = 200, width = kHc * d;
  const auto rows = ragged_rows(counts, {1});
  std::vector<uint32_t> last;
  for (int c : counts) last.push_back((last.empty() ? 0u : last.back() + 1u) + uint32_t(c) - 1u);
  const StepBuffers s = make_step(device(), staging(), rows, max_rows, gpu::RopeSlots(mhc_test_config()));
  const std::vector<float> streams = random_bf16(size_t(max_rows) * width, 31);
  const std::vector<float> fn = random_floats(size_t(kHc) * width, 32, 0.f, 0.02f);
  const std::vector<float> base = random_floats(kHc, 33, 0.f, 1.f);
  const std::vector<float> scale = {0.9f};
  vk::Buffer xs = upload(streams), fnb = upload(fn), bb = upload(base), sb = upload(scale);
  const std::vector<float> sentinel(size_t(max_rows) * d, 7.f);
  vk::Buffer y = upload(sentinel, "y");
  vk::Buffer scratch = upload(std::vector<float>(gpu::hc_mix_scratch_bytes(d, kHc, max_rows) / 4, NAN), "scratch");
  std::vector<vk::Dispatch> ds;
  gpu::encode_hc_head(ctx(), {s.step.range(), xs.range(), {fnb.range(), bb.range(), sb.range()}, y.range(), d, kHc,
                              max_rows, 1e-6f, 1e-6f, split ? scratch.range() : vk::BufferRange{}},
                      ds);
  run(std::move(ds));
  const auto gy = download<float>(y, sentinel.size());
  std::vector<float> ry = sentinel;
  for (uint32_t t : last)
    graph::hc_head(std::span(streams).subspan(size_t(t) * width, width), {fn, base, scale}, kHc, 1e-6f, 1e-6f,
                   std::span(ry).subspan(size_t(t) * d, d));
  EXPECT_EQ(bit_mismatches(gy, ry, 0, ry.size()), 0u);
  }
}

TEST_F(MhcTest, EmbedRepeatsTheRowAndFlagsBadIds) {
  const uint32_t vocab = 37, d = 200, max_rows = 6;
  RandomMatrix table = random_matrix(device(), staging(), graph::WeightFormat::BF16, vocab, d, 41, 1, {}, 1.f);
  for (bool bad : {false, true}) {
    const std::vector<int64_t> tokens = bad ? std::vector<int64_t>{5, 37, 0} : std::vector<int64_t>{5, 36, 0, 17, 9};
    const auto rows = ragged_rows({int(tokens.size()) - 1, 1}, tokens);
    const StepBuffers s = make_step(device(), staging(), rows, max_rows, gpu::RopeSlots(mhc_test_config()));
    vk::Buffer out = upload(std::vector<float>(size_t(max_rows) * kHc * d, 3.f)), status = zeros(gpu::kEmbedStatusBytes);
    std::vector<vk::Dispatch> ds;
    // A small max_binding forces several table slices (rows 0..15, 16..31, 32..36).
    gpu::encode_embed(ctx(), {s.step.range(), &table.device, out.range(), status.range(), kHc, max_rows, 16 * d * 2}, ds);
    run(std::move(ds));
    const auto g = download<float>(out, size_t(max_rows) * kHc * d);
    const auto st = download<uint32_t>(status, 2);
    for (size_t r = 0; r < max_rows; ++r) {
      const int64_t id = r < rows.size() ? rows[r].token : -1;
      for (uint32_t h = 0; h < kHc; ++h)
        for (uint32_t c = 0; c < d; ++c) {
          const float want = r >= rows.size() ? 3.f : (id >= 0 && id < vocab) ? table.host[0].values[size_t(id) * d + c] : 0.f;
          ASSERT_EQ(g[(r * kHc + h) * d + c], want) << "row " << r << " stream " << h << " col " << c;
        }
    }
    EXPECT_EQ(st[0], bad ? gpu::kEmbedBadToken : 0u);
    EXPECT_EQ(st[1], bad ? 37u : 0u);
  }
}

TEST_F(MhcTest, MtpAddRoundsTheBroadcastSum) {
  const uint32_t d = 200, streams = 4, max_rows = 5;
  const auto rows = ragged_rows({2, 1}, {1});
  const StepBuffers s = make_step(device(), staging(), rows, max_rows, gpu::RopeSlots(mhc_test_config()));
  const std::vector<float> a = random_floats(size_t(max_rows) * d, 51, 0.f, 1.f);
  const std::vector<float> b = random_floats(size_t(max_rows) * streams * d, 52, 0.f, 1.f);
  vk::Buffer ab = upload(a), bb = upload(b), out = zeros(b.size() * 4);
  std::vector<vk::Dispatch> ds;
  gpu::encode_add_bf16(ctx(), {s.step.range(), ab.range(), bb.range(), out.range(), d, streams, max_rows}, ds);
  run(std::move(ds));
  const auto g = download<float>(out, b.size());
  std::vector<float> want(b.size(), 0.f);
  for (size_t t = 0; t < rows.size(); ++t)
    for (uint32_t st = 0; st < streams; ++st)
      for (uint32_t c = 0; c < d; ++c)
        want[(t * streams + st) * d + c] = formats::round_bf16(a[t * d + c] + b[(t * streams + st) * d + c]);
  EXPECT_EQ(bit_mismatches(g, want, 0, want.size()), 0u);
}

}  // namespace
}  // namespace dsv4::test
