// Token sampling (design.md §1: greedy, temperature, top-k, top-p, min-p, seed, repetition
// penalty). The algorithm is the one shaders/sample/sample.comp runs, operation for operation
// (the vocabulary in 256 fixed chunks, fixed summation orders, an exp built from fp32 add/mul),
// so the CPU backend and the GPU pick the same tokens for the same seed. Per row, with the
// parameters of its sequence:
//   value_i = logit_i, or logit_i * (l > 0 ? 1/penalty : penalty) if token i appeared before
//   greedy (temperature <= 0 or top_k == 1): argmax of value, lowest index on ties
//   v_i = value_i * (1/T); w_i = exp(v_i - max v), set to 0 where w_i < min_p
//   top-k (0 < k < vocab): keep v_i >= the k-th largest v (ties at the boundary all kept)
//   top-p (< 1): keep v_i >= the largest threshold whose kept mass >= top_p * kept mass (ties kept)
//   pick: the first kept token in index order where the running mass exceeds u * kept mass,
//         u = sampling_uniform(seed, seq, pos)
#pragma once
#include <cstdint>
#include <span>

namespace dsv4::graph {

struct SamplingParams {
  float temperature = 0.f;         // <= 0 (or so small that 1/T overflows): greedy
  int32_t top_k = 0;               // <= 0: off
  float top_p = 1.f;               // >= 1: off
  float min_p = 0.f;               // <= 0: off (relative to the most likely token)
  float repetition_penalty = 1.f;  // 1 (or <= 0): off; > 1 discourages tokens already in the sequence
  uint64_t seed = 0;
};

// The 32 bytes per sequence slot the GPU sampler reads (shaders/sample/sampling_common.glsl);
// reciprocals are taken here once so CPU and GPU multiply by the same numbers.
struct DeviceSamplingParams {
  float inv_temperature;  // 0 when greedy
  int32_t top_k;
  float top_p;
  float min_p;
  float repetition_penalty;
  float inv_repetition_penalty;
  uint32_t seed_lo, seed_hi;
};
static_assert(sizeof(DeviceSamplingParams) == 32);

DeviceSamplingParams pack_sampling_params(const SamplingParams& p);

// The uniform number in [0, 1) (24 random bits) for (seed, position): a counter-based hash,
// identical in GLSL. The sequence slot is deliberately NOT mixed in, so a sequence samples the
// same tokens whichever slot a batch puts it in (`dsv4 batch` determinism); distinct sequences get
// distinct seeds instead.
float sampling_uniform(uint64_t seed, uint32_t seq, uint32_t pos);

// exp(x) correctly rounded for x in [-87, 88] (0 below, inf above), from fp32 add/mul only:
// bit-identical to ff_exp in shaders/mhc/ff_math.glsl.
float sampling_exp(float x);

// Presence bitmaps for the repetition penalty: token t is bit t%32 of word t/32 of its sequence's
// presence_words(vocab) words.
uint32_t presence_words(int64_t vocab);
void mark_token(std::span<uint32_t> presence, int64_t token);
bool has_token(std::span<const uint32_t> presence, int64_t token);

// The token for one row of logits [vocab]; `presence` is the sequence's bitmap (may be empty when
// the penalty is off). The caller marks the pick (mark_token) as the GPU sampler does.
int32_t sample_token(std::span<const float> logits, const SamplingParams& p, std::span<const uint32_t> presence,
                     uint32_t seq, uint32_t pos);

}  // namespace dsv4::graph
