// encode_sample / encode_mark_tokens against graph::sample_token. The GPU kernel and the CPU
// sampler run the same operations in the same order (fixed chunks and trees, exp from fp32
// add/mul), so the picked ids must be identical, not just statistically alike.
#include <gtest/gtest.h>

#include <cmath>

#include "graph/sampling.h"
#include "graph/vulkan/sampling.h"
#include "gpu/mhc/mhc_helpers.h"

namespace dsv4::test {
namespace {

constexpr uint32_t kSeqs = 4, kMaxRows = 7;

class SampleTest : public GpuOpTest {
 protected:
  struct Result {
    std::vector<int32_t> ids;
    std::vector<uint32_t> presence;
    std::vector<gpu::StepRow> step_rows;
  };

  // Rows: seq 0 prefill of 3 rows (only row 2 is sampled), seqs 1..3 one decode row each.
  std::vector<gpu::StepRow> rows() const { return ragged_rows({3, 1, 1, 1}, {11, 12, 13, 14, 15, 16}); }

  Result run_gpu(const std::vector<float>& logits, uint32_t vocab, const std::vector<graph::SamplingParams>& params,
                 bool mark_prompt, bool write_step) {
    const auto r = rows();
    const StepBuffers s = make_step(device(), staging(), r, kMaxRows, gpu::RopeSlots(mhc_test_config()));
    std::vector<graph::DeviceSamplingParams> packed;
    for (const auto& p : params) packed.push_back(graph::pack_sampling_params(p));
    vk::Buffer lb = upload(logits, "logits"), pb = upload(packed, "params");
    const uint32_t words = graph::presence_words(vocab);
    vk::Buffer presence = zeros(size_t(kSeqs) * words * 4, "presence");
    vk::Buffer scratch = zeros(gpu::sample_scratch_bytes(vocab, kMaxRows), "scratch");
    vk::Buffer ids = upload(std::vector<int32_t>(kMaxRows, -7), "ids");
    std::vector<vk::Dispatch> ds;
    if (mark_prompt) gpu::encode_mark_tokens(ctx(), {s.step.range(), presence.range(), vocab, kMaxRows}, ds);
    gpu::encode_sample(ctx(), {s.step.range(), lb.range(), pb.range(), presence.range(), scratch.range(), ids.range(),
                               vocab, kMaxRows, write_step, true},
                       ds);
    run(std::move(ds));
    Result out;
    out.ids = download<int32_t>(ids, kMaxRows);
    out.presence = download<uint32_t>(presence, size_t(kSeqs) * words);
    out.step_rows = download<gpu::StepRow>(s.step, kMaxRows, sizeof(gpu::StepHeader));
    return out;
  }

  // The CPU sampler on the same rows: ids (-1 for rows that do not end their sequence, -7 beyond
  // n_rows) and the bitmaps after marking.
  Result run_cpu(const std::vector<float>& logits, uint32_t vocab, const std::vector<graph::SamplingParams>& params,
                 bool mark_prompt) {
    const auto r = rows();
    const uint32_t words = graph::presence_words(vocab);
    Result out;
    out.ids.assign(kMaxRows, -7);
    out.presence.assign(size_t(kSeqs) * words, 0);
    auto bitmap = [&](int32_t seq) { return std::span(out.presence).subspan(size_t(seq) * words, words); };
    if (mark_prompt)
      for (const auto& row : r) graph::mark_token(bitmap(row.seq), row.token);
    for (size_t t = 0; t < r.size(); ++t) {
      if (t + 1 < r.size() && r[t + 1].seq == r[t].seq) {
        out.ids[t] = -1;
        continue;
      }
      out.ids[t] = graph::sample_token(std::span(logits).subspan(t * vocab, vocab), params[size_t(r[t].seq)],
                                       bitmap(r[t].seq), uint32_t(r[t].seq), uint32_t(r[t].pos));
    }
    for (size_t t = 0; t < r.size(); ++t)
      if (out.ids[t] >= 0) graph::mark_token(bitmap(r[t].seq), out.ids[t]);
    return out;
  }

  // Returns how many sampled rows differ from the greedy pick (so callers can see sampling happen).
  int expect_same(const std::vector<float>& logits, uint32_t vocab, const std::vector<graph::SamplingParams>& params,
                  bool mark_prompt = false) {
    const Result g = run_gpu(logits, vocab, params, mark_prompt, false);
    const Result c = run_cpu(logits, vocab, params, mark_prompt);
    const Result greedy = run_cpu(logits, vocab, std::vector<graph::SamplingParams>(kSeqs), false);
    int not_greedy = 0;
    for (uint32_t r = 0; r < kMaxRows; ++r) not_greedy += g.ids[r] != greedy.ids[r];
    EXPECT_EQ(g.ids, c.ids) << "vocab " << vocab << " temperature " << params[1].temperature << " top_k "
                            << params[1].top_k << " top_p " << params[1].top_p << " min_p " << params[1].min_p
                            << " penalty " << params[1].repetition_penalty << " seed " << params[1].seed;
    EXPECT_EQ(g.presence, c.presence);
    return not_greedy;
  }
};

std::vector<graph::SamplingParams> same_params(graph::SamplingParams p) {
  std::vector<graph::SamplingParams> v(kSeqs, p);
  for (uint32_t s = 0; s < v.size(); ++s) v[s].seed = p.seed + s * 1000003ull;  // slots differ
  return v;
}

TEST_F(SampleTest, GreedyIsArgmaxWithLowestIndexOnTies) {
  const uint32_t vocab = 1000;
  std::vector<float> logits = random_floats(size_t(kMaxRows) * vocab, 1, 0.f, 2.f);
  for (uint32_t r = 0; r < kMaxRows; ++r) {  // a tie for the maximum at 700 and 300 + r
    logits[r * vocab + 700] = 50.f;
    logits[r * vocab + 300 + r] = 50.f;
  }
  const Result g = run_gpu(logits, vocab, same_params({}), false, true);
  const std::vector<int32_t> want = {-1, -1, 302, 303, 304, 305, -7};
  EXPECT_EQ(g.ids, want);
  for (uint32_t r = 2; r < 6; ++r) EXPECT_EQ(g.step_rows[r].token, want[r]) << "write_step";
  EXPECT_EQ(g.step_rows[0].token, 11);  // rows that sample nothing keep their token
  EXPECT_EQ(run_cpu(logits, vocab, same_params({}), false).ids, want);
}

TEST_F(SampleTest, SeededSamplingMatchesTheCpuSampler) {
  int not_greedy = 0;
  for (uint32_t vocab : {1000u, 5003u, 129280u}) {  // 129280: the model's vocabulary, 505 per chunk
    const std::vector<float> logits = random_floats(size_t(kMaxRows) * vocab, vocab, 0.f, 2.f);
    for (uint64_t seed = 1; seed <= (vocab > 10000 ? 3u : 12u); ++seed) {
      graph::SamplingParams p;
      p.seed = seed * 0x9e3779b97f4a7c15ull;
      p.temperature = seed % 3 == 0 ? 1.f : 0.7f;
      p.top_k = seed % 4 == 1 ? 40 : 0;
      p.top_p = seed % 3 == 1 ? 0.9f : 1.f;
      p.min_p = seed % 5 == 2 ? 0.05f : 0.f;
      p.repetition_penalty = seed % 2 ? 1.3f : 1.f;
      not_greedy += expect_same(logits, vocab, same_params(p), seed % 2 == 1);
    }
  }
  EXPECT_GT(not_greedy, 40);  // of 108 sampled rows: the picks are really random
}

TEST_F(SampleTest, TopKOneAndTinyTopPAreGreedy) {
  const uint32_t vocab = 1000;
  const std::vector<float> logits = random_floats(size_t(kMaxRows) * vocab, 5, 0.f, 2.f);
  const std::vector<int32_t> greedy = run_gpu(logits, vocab, same_params({}), false, false).ids;
  graph::SamplingParams k1;
  k1.temperature = 1.f;
  k1.top_k = 1;
  graph::SamplingParams tiny_p;
  tiny_p.temperature = 1.5f;
  tiny_p.top_p = 1e-6f;
  for (uint64_t seed : {3ull, 4ull, 5ull}) {
    k1.seed = tiny_p.seed = seed;
    EXPECT_EQ(run_gpu(logits, vocab, same_params(k1), false, false).ids, greedy);
    EXPECT_EQ(run_gpu(logits, vocab, same_params(tiny_p), false, false).ids, greedy);
  }
}

TEST_F(SampleTest, MinPKeepsOnlyTokensNearTheTop) {
  const uint32_t vocab = 300;
  const std::vector<float> logits = random_floats(size_t(kMaxRows) * vocab, 9, 0.f, 1.f);
  graph::SamplingParams p;
  p.temperature = 1.f;
  p.min_p = 0.6f;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    p.seed = seed;
    const Result g = run_gpu(logits, vocab, same_params(p), false, false);
    EXPECT_EQ(g.ids, run_cpu(logits, vocab, same_params(p), false).ids);
    for (uint32_t r = 2; r < 6; ++r) {
      const float* l = logits.data() + r * vocab;
      const float top = *std::max_element(l, l + vocab);
      EXPECT_GE(std::exp(l[g.ids[r]] - top), 0.6f * 0.999f) << "row " << r;
    }
  }
}

TEST_F(SampleTest, RepetitionPenaltyMovesThePickAsTheCpuDoes) {
  const uint32_t vocab = 500;
  std::vector<float> logits = random_floats(size_t(kMaxRows) * vocab, 13, 0.f, 1.f);
  for (uint32_t r = 0; r < kMaxRows; ++r) {  // each row's own step token is the favourite
    logits[r * vocab + 11 + r] = 9.f;         // tokens 11..16 are the rows' step tokens
    logits[r * vocab + 400] = 8.f;            // the runner-up
  }
  graph::SamplingParams p;
  p.repetition_penalty = 1.5f;  // 9 / 1.5 = 6 < 8
  const Result without = run_gpu(logits, vocab, same_params(p), false, false);
  const Result with = run_gpu(logits, vocab, same_params(p), true, false);
  for (uint32_t r = 3; r < 6; ++r) {
    EXPECT_EQ(without.ids[r], int32_t(11 + r));
    EXPECT_EQ(with.ids[r], 400);
  }
  EXPECT_EQ(with.ids, run_cpu(logits, vocab, same_params(p), true).ids);
  EXPECT_EQ(with.presence, run_cpu(logits, vocab, same_params(p), true).presence);  // prompt + picks marked
  p.temperature = 0.9f;
  for (uint64_t seed = 20; seed < 26; ++seed) {
    p.seed = seed;
    expect_same(logits, vocab, same_params(p), true);
  }
}

}  // namespace
}  // namespace dsv4::test
