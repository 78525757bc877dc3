#include "graph/vulkan/indexer.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include "vk/caps.h"
#include "vk/device.h"

namespace dsv4::gpu {

namespace {

struct QueryParams {
  uint32_t heads, dim, rope_dim, rope_slot;
  float hadamard_scale;
};

struct SelectParams {
  uint32_t max_entries, ratio;
};

constexpr uint32_t kScoreThreads = 256;  // shaders/indexer/scores.comp WG
constexpr uint32_t kKeysPerThread = 4;   // scores.comp KPT: in-order dots an invocation runs at once
constexpr uint64_t kSharedLimit = 32768; // lavapipe's shared memory per workgroup
// Workgroups per row of the scores kernel at most: enough to fill an H100-class GPU (132 SMs x 8
// workgroups of 256) at one row; longer contexts walk several key tiles per workgroup, reusing its
// query load.
constexpr uint64_t kMaxScoreGroups = 1024;

// Shared memory of scores.comp with `units` key groups per tile: padded packed bf16 queries, head
// weights, a tile's head terms and decoded keys.
uint64_t score_shared_bytes(uint64_t heads, uint64_t dim, uint64_t units) {
  const uint64_t tile = kKeysPerThread * units;
  return heads * (dim / 8 + 1) * 16 + heads * 4 + tile * heads * 4 + tile * dim * 4;
}

// Key groups per tile of the scores kernel: enough for every invocation to run one (head, group)
// unit, at most 4 (16-key tiles), fewer where shared memory would not hold the tile; 0: none fits.
uint32_t score_units(uint32_t heads, uint32_t dim) {
  for (uint32_t units = std::clamp<uint32_t>(kScoreThreads / heads, 1, 4); units >= 1; units /= 2)
    if (score_shared_bytes(heads, dim, units) <= kSharedLimit) return units;
  return 0;
}

}  // namespace

void encode_indexer_query(Context& ctx, const IndexerQueryArgs& a, std::vector<vk::Dispatch>& out) {
  if (a.dim <= 0 || a.dim > 1024 || !std::has_single_bit(uint64_t(a.dim)))
    throw std::invalid_argument("encode_indexer_query: dim " + std::to_string(a.dim) + " is not a power of two <= 1024");
  if (a.rope_dim < 0 || a.rope_dim % 2 != 0 || a.rope_dim > a.dim || a.heads <= 0)
    throw std::invalid_argument("encode_indexer_query: shape");
  const vk::Kernel& k = ctx.kernels.get({"indexer/query", 3, sizeof(QueryParams), {}, 0});
  const QueryParams p{uint32_t(a.heads), uint32_t(a.dim), uint32_t(a.rope_dim), a.rope_slot,
                      float(1.0 / std::sqrt(double(a.dim)))};  // as graph::hadamard_rotate
  out.push_back({&k,
                 {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.q, vk::Access::ReadWrite}},
                 vk::push_words(p),
                 {a.max_rows, uint32_t(a.heads), 1},
                 std::nullopt,
                 "indexer.query"});
}

uint64_t indexer_scores_bytes(uint32_t max_rows, int64_t max_entries) {
  return uint64_t(max_rows) * uint64_t(max_entries) * sizeof(float);
}

void encode_indexer_topk(Context& ctx, const IndexerTopkArgs& a, std::vector<vk::Dispatch>& out) {
  // Shared memory stays within 32 KiB (lavapipe): packed bf16 queries, weights, a tile's head
  // terms and keys in the scores kernel, (key, index) survivor pairs + 5 KiB of histogram and scan in the
  // selection.
  if (a.dim <= 0 || a.dim % 32 != 0 || a.heads <= 0 || a.heads > 4096 || score_units(uint32_t(a.heads), uint32_t(a.dim)) == 0)
    throw std::invalid_argument("encode_indexer_topk: heads * dim must fit 32 KiB of packed bf16 queries");
  if (a.topk <= 0 || a.topk > 2048 || a.ratio <= 0 || a.max_entries <= 0)
    throw std::invalid_argument("encode_indexer_topk: topk (<= 2048) / ratio / max_entries");
  if (!ctx.device.caps().has_subgroup_operation("ballot"))
    throw std::invalid_argument("encode_indexer_topk: the device lacks subgroup ballot (the top-k ranks ties with it)");
  const SelectParams p{uint32_t(a.max_entries), uint32_t(a.ratio)};
  const uint32_t units = score_units(uint32_t(a.heads), uint32_t(a.dim)), tile = kKeysPerThread * units;
  const vk::Kernel& scores = ctx.kernels.get(
      {"indexer/scores", 5, sizeof(SelectParams), {{0, uint32_t(a.heads)}, {1, uint32_t(a.dim)}, {2, units}}, 0});
  out.push_back({&scores,
                 {{a.step, vk::Access::Read},
                  {a.q, vk::Access::Read},
                  {a.w, vk::Access::Read},
                  {a.index_keys, vk::Access::Read},
                  {a.scores, vk::Access::Write}},
                 vk::push_words(p),
                 {uint32_t(std::min<uint64_t>(groups_for(uint64_t(a.max_entries), tile), kMaxScoreGroups)), a.max_rows, 1},
                 std::nullopt,
                 "indexer.scores"});
  const uint32_t sort_n = std::bit_ceil(uint32_t(a.topk));  // topk.comp SORT_N
  const vk::Kernel& select =
      ctx.kernels.get({"indexer/topk", 3, sizeof(SelectParams), {{0, uint32_t(a.topk)}, {1, sort_n}}, 0});
  out.push_back({&select,
                 {{a.step, vk::Access::Read}, {a.scores, vk::Access::Read}, {a.index_sel, vk::Access::Write}},
                 vk::push_words(p),
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 "indexer.topk"});
}

}  // namespace dsv4::gpu
