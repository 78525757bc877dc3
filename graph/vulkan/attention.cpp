#include "graph/vulkan/attention.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include "graph/vulkan/cache_layout.h"
#include "graph/vulkan/linear_coopmat.h"
#include "graph/vulkan/norms.h"
#include "vk/caps.h"
#include "vk/device.h"

namespace dsv4::gpu {
namespace {

constexpr uint32_t kHeadsPerGroup = 8;  // sparse_attention.comp HG
constexpr uint32_t kMaxHeadDim = 512;   // sparse_attention.comp MAX_DH
constexpr uint32_t kScoreTile = 32;     // decode_scores.comp KT: keys per workgroup
constexpr uint32_t kScoreHeads = 16;    // decode_scores.comp HG: heads per workgroup
constexpr uint32_t kCoopScoreKeys = 64, kCoopScoreHeads = 64;  // scores_coopmat.comp KT, HG
constexpr uint64_t kCoopScoreSharedBytes = 2 * 64 * 18 * 8 + 8 * 4;  // its smem and chunk_max
constexpr uint32_t kHalfQueryHeads = 32, kHalfQueryDims = 64;  // q_half.comp: a group's heads, a chunk's dims
constexpr uint32_t kCoopPvHeads = 64, kCoopPvDims = 128, kCoopPvKeys = 32;  // pv_coopmat.comp HG, DN, KC
// decode_pv.comp HG. On an H100 (Flash, HCA at 1M: 8,320 keys) 8 heads a workgroup took 123 us
// where 16 took 384 (CSA at 4K: 17 against 40): twice the workgroups, half the registers.
constexpr uint32_t kPvHeads = 8;
constexpr uint32_t kMergeDims = 128;    // attn_merge.comp THREADS: dims per workgroup

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}

void check_rope(uint32_t head_dim, uint32_t rope_dim) {
  require(rope_dim % 2 == 0 && rope_dim <= head_dim, "attention: rope_dim must be even and <= head_dim");
}

// The KV entry layout needs word-aligned regions (nope % 4) to be bound as uint[].
void check_entry(uint32_t head_dim, uint32_t rope_dim) {
  check_rope(head_dim, rope_dim);
  require((head_dim - rope_dim) % 4 == 0, "attention: nope dims must be a multiple of 4");
  require((head_dim - rope_dim) <= 2048, "attention: nope dims above 2048");
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct ScratchParts {
  vk::BufferRange max_part, den_part, acc_part, scores, tile_max;
  vk::BufferRange q16, q_shift;  // coopmat: q_half.comp's fp16 queries and their chunk shifts
  vk::BufferRange p16, den;      // coopmat, one split: p_half.comp's fp16 softmax weights and denominators
  uint64_t end = 0;  // bytes from the scratch offset
};

uint64_t max_keys_of(const SparseAttentionArgs& a) {
  return max_attention_keys(a.window, a.ratio, a.index_topk, a.entries_per_seq);
}

uint64_t score_tiles_of(const SparseAttentionArgs& a) { return (max_keys_of(a) + kScoreTile - 1) / kScoreTile; }

// max_part, den_part, acc_part, scores, tile_max at aligned offsets of the scratch range (unused
// parts get 4 bytes so every binding stays valid).
ScratchParts carve(const SparseAttentionArgs& a) {
  const uint64_t al = std::max<uint64_t>(a.offset_alignment, 4);
  const uint64_t small = uint64_t(a.max_rows) * a.n_heads * a.n_splits * 4;
  const uint64_t acc = a.n_splits > 1 ? small * a.head_dim : 4;
  const uint64_t scores = a.keep_scores ? uint64_t(a.max_rows) * a.n_heads * max_keys_of(a) * 4 : 4;
  const uint64_t tile_max = a.keep_scores ? uint64_t(a.max_rows) * a.n_heads * score_tiles_of(a) * 4 : 4;
  ScratchParts p;
  uint64_t at = 0;
  const auto take = [&](uint64_t bytes) {
    const vk::BufferRange r{a.scratch.buffer, a.scratch.offset + at, bytes};
    at += align_up(bytes, al);
    return r;
  };
  p.max_part = take(small);
  p.den_part = take(small);
  p.acc_part = take(acc);
  p.scores = take(scores);
  p.tile_max = take(tile_max);
  if (a.coopmat) {  // [max_rows, HP, HDP] fp16 and [max_rows, HP / 32, HDP / 64] ints
    const uint64_t hp = (uint64_t(a.n_heads) + kCoopScoreHeads - 1) / kCoopScoreHeads * kCoopScoreHeads;
    const uint64_t chunks = (uint64_t(a.head_dim) + kHalfQueryDims - 1) / kHalfQueryDims;
    p.q16 = take(uint64_t(a.max_rows) * hp * chunks * kHalfQueryDims * 2);
    p.q_shift = take(uint64_t(a.max_rows) * (hp / kHalfQueryHeads) * chunks * 4);
    if (a.n_splits == 1) {  // [max_rows, HP, KP] fp16 and [max_rows, n_heads] floats
      const uint64_t kp = (max_keys_of(a) + kCoopPvKeys - 1) / kCoopPvKeys * kCoopPvKeys;
      p.p16 = take(uint64_t(a.max_rows) * hp * kp * 2);
      p.den = take(uint64_t(a.max_rows) * a.n_heads * 4);
    }
  }
  p.end = at;
  return p;
}

}  // namespace

bool attention_coopmat(const Context& ctx) {
  return linear_coopmat_api(ctx.device) != CoopmatApi::None &&
         ctx.device.caps().max_compute_shared_memory >= kCoopScoreSharedBytes;
}

namespace {
// q_heads_half.comp's 32-head groups and 64-dim chunks tile q_half.comp's padded layout exactly.
bool half_queries_unpadded(uint32_t n_heads, uint32_t head_dim) {
  return n_heads % kCoopScoreHeads == 0 && head_dim % kHalfQueryDims == 0;
}
}  // namespace

bool q_heads_write_half(const SparseAttentionArgs& a) { return a.coopmat && half_queries_unpadded(a.n_heads, a.head_dim); }

void sparse_attention_half_queries(const SparseAttentionArgs& a, vk::BufferRange& q16, vk::BufferRange& q_shift) {
  require(a.coopmat, "sparse_attention_half_queries: only the coopmat path has fp16 queries");
  const ScratchParts s = carve(a);
  q16 = s.q16;
  q_shift = s.q_shift;
}

bool kept_scores_fit(const SparseAttentionArgs& a, uint64_t max_range) {
  constexpr uint64_t kBudget = uint64_t(1) << 30;
  const uint64_t bytes = uint64_t(a.max_rows) * a.n_heads * max_keys_of(a) * 4;
  return bytes <= std::min(kBudget, max_range);
}

void encode_q_heads(Context& ctx, const QHeadsArgs& a, std::vector<vk::Dispatch>& out) {
  check_rope(a.head_dim, a.rope_dim);
  require(a.head_dim % 4 == 0 && (a.head_dim - a.rope_dim) % 4 == 0,
          "encode_q_heads: head_dim and its nope dims must be multiples of 4");
  require(a.head_dim <= kMaxHeadDim, "encode_q_heads: head_dim must be <= 512");  // q_heads.comp MAX_CHUNKS
  struct Push {
    uint32_t n_heads, head_dim, rope_dim, rope_slot;
    float eps;
  } push{a.n_heads, a.head_dim, a.rope_dim, a.rope_slot, a.eps};
  const bool half = a.q16.buffer != VK_NULL_HANDLE;
  if (half) {
    require(half_queries_unpadded(a.n_heads, a.head_dim), "encode_q_heads: fp16 queries need n_heads % 64 == 0 and head_dim % 64 == 0");
    const vk::Kernel& k = ctx.kernels.get({"attention/q_heads_half", 5, sizeof(Push), {}, 0});
    out.push_back({&k,
                   {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.q, vk::Access::Read},
                    {a.q16, vk::Access::Write}, {a.q_shift, vk::Access::Write}},
                   vk::push_words(push),
                   {a.n_heads / 32, a.max_rows, 1},
                   std::nullopt,
                   "attn.q_heads half"});
    return;
  }
  const vk::Kernel& k = ctx.kernels.get({"attention/q_heads", 3, sizeof(Push), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.q, vk::Access::ReadWrite}},
                 vk::push_words(push),
                 {(a.n_heads + 31) / 32, a.max_rows, 1},  // q_heads.comp: 32 heads a workgroup
                 std::nullopt,
                 "attn.q_heads"});
}

void encode_kv_finish(Context& ctx, const KvFinishArgs& a, std::vector<vk::Dispatch>& out) {
  check_entry(a.head_dim, a.rope_dim);
  require(a.rope_dim <= 512, "encode_kv_finish: rope_dim above 512");
  const bool norm = a.raw.size > 0, ring = a.ring.size > 0;
  require(!ring || (norm && a.window > 0), "encode_kv_finish: the ring write needs the fused norm and a window");
  if (!norm) {
    struct Push {
      uint32_t head_dim, rope_dim, rope_slot;
    } push{a.head_dim, a.rope_dim, a.rope_slot};
    const vk::Kernel& k = ctx.kernels.get({"attention/kv_finish", 3, sizeof(Push), {}, 0});
    out.push_back({&k,
                   {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.kv, vk::Access::ReadWrite}},
                   vk::push_words(push),
                   {a.max_rows, 1, 1},
                   std::nullopt,
                   "attn.kv_finish"});
    return;
  }
  require(a.norm_weight.size > 0, "encode_kv_finish: raw given without norm_weight");
  require((uint64_t(1) << pairwise_depth(a.head_dim)) <= 1024, "encode_kv_finish: head_dim too large for the fused norm");
  struct Push {
    uint32_t head_dim, rope_dim, rope_slot, depth;
    float inv_dim, eps;
    uint32_t window;
  } push{a.head_dim, a.rope_dim, a.rope_slot, pairwise_depth(a.head_dim), 1.0f / float(a.head_dim), a.eps, a.window};
  const vk::Kernel& k = ctx.kernels.get({"attention/kv_finish_norm", 6, sizeof(Push), {{0, ring ? 1u : 0u}}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {a.rope, vk::Access::Read},
                  {a.kv, vk::Access::Write},
                  {a.raw, vk::Access::Read},
                  {a.norm_weight, vk::Access::Read},
                  ring ? vk::Binding{a.ring, vk::Access::Write} : vk::Binding{a.raw, vk::Access::Read}},
                 vk::push_words(push),
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 "attn.kv_finish"});
}

void encode_window_write(Context& ctx, const WindowWriteArgs& a, std::vector<vk::Dispatch>& out) {
  check_entry(a.head_dim, a.rope_dim);
  require(a.window > 0, "encode_window_write: window must be > 0");
  struct Push {
    uint32_t head_dim, rope_dim, window;
  } push{a.head_dim, a.rope_dim, a.window};
  const vk::Kernel& k = ctx.kernels.get({"attention/window_write", 3, sizeof(Push), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read}, {a.kv, vk::Access::Read}, {a.ring, vk::Access::Write}},
                 vk::push_words(push),
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 "attn.window_write"});
}

uint64_t sparse_attention_scratch_bytes(const SparseAttentionArgs& a) { return carve(a).end; }

// ~8 keys per split by default (one KT tile per workgroup): a decode row has only n_heads / 8 head
// groups, so the GPU fills up only when the keys are spread over many workgroups, and a
// workgroup's tiles run one after another, each paying its loads' latency. Measured on an H100
// (Flash, decode at 4K) when the score pass was split too: 256 keys per split took 0.72 ms for a
// CSA row; 32 keys 88 + 44 us (scores + P.V passes) for a sliding-window row, 16 keys cut the step
// by 4%, 8 keys 28 + 19 us (the step 4.09 -> 3.76 ms). Since session 12 the scores have their own
// tiling (decode_scores.comp) and only P.V and the merge depend on the splits; session 12's sweep
// of HCA at 1M (8,320 keys) found 128 splits (65 keys) fastest, 256 (33 keys) 8% slower.
uint32_t attention_splits(uint64_t max_keys, uint32_t keys_per_split) {
  const uint64_t per = std::max<uint32_t>(keys_per_split, 1);
  return uint32_t(std::clamp<uint64_t>((max_keys + per - 1) / per, 1, 256));
}

uint64_t max_attention_keys(uint32_t window, uint32_t ratio, uint32_t index_topk, uint32_t entries_per_seq) {
  return uint64_t(window) + (ratio == 4 ? index_topk : ratio > 0 ? entries_per_seq : 0);
}

void encode_sparse_attention(Context& ctx, const SparseAttentionArgs& a, std::vector<vk::Dispatch>& out) {
  check_entry(a.head_dim, a.rope_dim);
  require(a.head_dim <= kMaxHeadDim && a.head_dim % 4 == 0, "encode_sparse_attention: head_dim must be <= 512, a multiple of 4");
  // 128 threads in at most 32 subgroups (sparse_attention.comp MAX_SUBGROUPS), reduced with subgroupAdd.
  const vk::Caps& caps = ctx.device.caps();
  require(caps.min_subgroup_size == 0 || caps.min_subgroup_size >= 4, "encode_sparse_attention: subgroups below 4 lanes");
  require(caps.has_subgroup_operation("arithmetic"), "encode_sparse_attention: needs subgroup arithmetic");
  require(a.window > 0 && a.n_splits > 0, "encode_sparse_attention: window and n_splits must be > 0");
  require(a.n_splits <= 256, "encode_sparse_attention: n_splits above 256 (attn_merge.comp MAX_SPLITS)");
  require(a.ratio != 4 || a.index_topk > 0, "encode_sparse_attention: ratio 4 needs index_topk");
  struct Push {
    uint32_t n_heads, head_dim, rope_dim, window;
    uint32_t ratio, entries_per_seq, index_topk, n_splits;
    uint32_t rope_slot;
    float scale;
    uint32_t max_keys;
  } push{a.n_heads, a.head_dim, a.rope_dim, a.window, a.ratio, a.entries_per_seq, a.index_topk, a.n_splits,
         a.rope_slot, float(1.0 / std::sqrt(double(a.head_dim))),  // as CpuExecutor::sparse_attention
         a.keep_scores ? uint32_t(max_keys_of(a)) : 0u};
  const ScratchParts s = carve(a);
  if (a.scratch.offset % std::max<uint64_t>(a.offset_alignment, 4) != 0 || a.scratch.size < s.end)
    throw std::invalid_argument("encode_sparse_attention: scratch misaligned or smaller than sparse_attention_scratch_bytes()");
  // Bindings a kernel does not touch still need a valid buffer: the sink (read-only) stands in.
  const vk::Binding filler{a.attn_sink, vk::Access::Read};
  const auto or_filler = [&](const vk::BufferRange& r) {
    return r.buffer != VK_NULL_HANDLE && a.ratio > 0 ? vk::Binding{r, vk::Access::Read} : filler;
  };
  const vk::Binding compressed = or_filler(a.compressed);
  const vk::Binding index_sel = a.ratio == 4 ? or_filler(a.index_sel) : filler;
  const std::array<uint32_t, 3> groups{a.n_splits, (a.n_heads + kHeadsPerGroup - 1) / kHeadsPerGroup, a.max_rows};
  const bool split = a.n_splits > 1;

  if (a.keep_scores) {  // register-tiled (or coopmat) scores, then P.V from the stored scores
    require(!a.coopmat || attention_coopmat(ctx), "encode_sparse_attention: coopmat on a device without attention_coopmat()");
    require(!a.queries_half || q_heads_write_half(a), "encode_sparse_attention: queries_half where q_heads cannot write them");
    if (a.coopmat && !a.queries_half) {  // the queries as exact fp16 once per row, not once per 64-key workgroup
      struct HalfPush {
        uint32_t n_heads, head_dim;
      } hpush{a.n_heads, a.head_dim};
      const vk::Kernel& half = ctx.kernels.get({"attention/q_half", 4, sizeof(HalfPush), {}, 0});
      out.push_back({&half,
                     {{a.step, vk::Access::Read}, {a.q, vk::Access::Read}, {s.q16, vk::Access::Write},
                      {s.q_shift, vk::Access::Write}},
                     vk::push_words(hpush),
                     {(a.n_heads + kCoopScoreHeads - 1) / kCoopScoreHeads * (kCoopScoreHeads / kHalfQueryHeads), a.max_rows, 1},
                     std::nullopt,
                     "attn.sparse.q_half"});
    }
    const vk::Kernel& scores =
        a.coopmat ? ctx.kernels.get(coopmat_kernel(ctx.device, linear_coopmat_api(ctx.device), "attention/scores_coopmat",
                                                   9, sizeof(Push), {}))
                  : ctx.kernels.get({"attention/decode_scores", 8, sizeof(Push), {}, 0});
    const std::array<uint32_t, 3> score_groups =
        a.coopmat ? std::array<uint32_t, 3>{uint32_t((max_keys_of(a) + kCoopScoreKeys - 1) / kCoopScoreKeys),
                                            (a.n_heads + kCoopScoreHeads - 1) / kCoopScoreHeads, a.max_rows}
                  : std::array<uint32_t, 3>{uint32_t(score_tiles_of(a)), (a.n_heads + kScoreHeads - 1) / kScoreHeads,
                                            a.max_rows};
    std::vector<vk::Binding> score_bindings{{a.step, vk::Access::Read},
                                            {a.coopmat ? s.q16 : a.q, vk::Access::Read},
                                            {a.kv, vk::Access::Read},
                                            {a.ring, vk::Access::Read},
                                            compressed,
                                            index_sel,
                                            {s.scores, vk::Access::Write},
                                            {s.tile_max, vk::Access::Write}};
    if (a.coopmat) score_bindings.push_back({s.q_shift, vk::Access::Read});
    out.push_back({&scores,
                   score_bindings,
                   vk::push_words(push),
                   score_groups,
                   std::nullopt,
                   a.coopmat ? "attn.sparse.scores coopmat" : "attn.sparse.scores"});
    // One split (prefill) on coopmat: the softmax weights as fp16 once per row (p_half.comp), then
    // pv_coopmat.comp, 64 heads x 128 dims a workgroup.
    const bool pv_coopmat = a.coopmat && !split;
    if (pv_coopmat) {
      const vk::Kernel& half = ctx.kernels.get({"attention/p_half", 6, sizeof(Push), {}, 0});
      out.push_back({&half,
                     {{a.step, vk::Access::Read}, {s.scores, vk::Access::Read}, {s.tile_max, vk::Access::Read},
                      {a.attn_sink, vk::Access::Read}, {s.p16, vk::Access::Write}, {s.den, vk::Access::Write}},
                     vk::push_words(push),
                     {(a.n_heads + kCoopPvHeads - 1) / kCoopPvHeads, a.max_rows, 1},
                     std::nullopt,
                     "attn.sparse.p_half"});
    }
    const vk::Kernel& pv =
        pv_coopmat ? ctx.kernels.get(coopmat_kernel(ctx.device, linear_coopmat_api(ctx.device), "attention/pv_coopmat", 13,
                                                    sizeof(Push), {}))
                   : ctx.kernels.get({"attention/decode_pv", 13, sizeof(Push), {{0, kPvHeads}}, 0});
    const std::array<uint32_t, 3> pv_groups =
        pv_coopmat ? std::array<uint32_t, 3>{(a.head_dim + kCoopPvDims - 1) / kCoopPvDims,
                                             (a.n_heads + kCoopPvHeads - 1) / kCoopPvHeads, a.max_rows}
                   : std::array<uint32_t, 3>{a.n_splits, (a.n_heads + kPvHeads - 1) / kPvHeads, a.max_rows};
    out.push_back({&pv,
                   {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.kv, vk::Access::Read},
                    {a.ring, vk::Access::Read}, compressed, index_sel, {a.attn_sink, vk::Access::Read},
                    pv_coopmat ? vk::Binding{s.p16, vk::Access::Read} : vk::Binding{s.scores, vk::Access::Read},
                    pv_coopmat ? vk::Binding{s.den, vk::Access::Read} : vk::Binding{s.tile_max, vk::Access::Read},
                    split ? vk::Binding{s.max_part, vk::Access::Write} : filler,
                    split ? vk::Binding{s.acc_part, vk::Access::Write} : filler,
                    split ? vk::Binding{s.den_part, vk::Access::Write} : filler,
                    split ? filler : vk::Binding{a.o, vk::Access::Write}},
                   vk::push_words(push),
                   pv_groups,
                   std::nullopt,
                   pv_coopmat ? "attn.sparse.pv coopmat" : "attn.sparse.pv"});
  } else {  // prefill: two split passes that recompute the dot products
    const vk::Kernel& max = ctx.kernels.get({"attention/sparse_attention", 12, sizeof(Push), {{0, 0}}, 0});
    out.push_back({&max,
                   {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.q, vk::Access::Read},
                    {a.kv, vk::Access::Read}, {a.ring, vk::Access::Read}, compressed, index_sel, filler,
                    {s.max_part, vk::Access::Write}, filler, filler, filler},
                   vk::push_words(push), groups, std::nullopt, "attn.sparse.max"});
    const vk::Kernel& pv = ctx.kernels.get({"attention/sparse_attention", 12, sizeof(Push), {{0, 1}}, 0});
    out.push_back({&pv,
                   {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.q, vk::Access::Read},
                    {a.kv, vk::Access::Read}, {a.ring, vk::Access::Read}, compressed, index_sel,
                    {a.attn_sink, vk::Access::Read}, {s.max_part, vk::Access::Read},
                    split ? vk::Binding{s.acc_part, vk::Access::Write} : filler,
                    split ? vk::Binding{s.den_part, vk::Access::Write} : filler,
                    split ? filler : vk::Binding{a.o, vk::Access::Write}},
                   vk::push_words(push), groups, std::nullopt, "attn.sparse.pv"});
  }
  if (!split) return;

  struct MergePush {
    uint32_t n_heads, head_dim, rope_dim, n_splits, rope_slot;
  } mp{a.n_heads, a.head_dim, a.rope_dim, a.n_splits, a.rope_slot};
  const vk::Kernel& merge = ctx.kernels.get({"attention/attn_merge", 7, sizeof(MergePush), {}, 0});
  out.push_back({&merge,
                 {{a.step, vk::Access::Read}, {a.rope, vk::Access::Read}, {a.attn_sink, vk::Access::Read},
                  {s.max_part, vk::Access::Read}, {s.acc_part, vk::Access::Read}, {s.den_part, vk::Access::Read},
                  {a.o, vk::Access::Write}},
                 vk::push_words(mp), {a.n_heads, (a.head_dim + kMergeDims - 1) / kMergeDims, a.max_rows}, std::nullopt, "attn.sparse.merge"});
}

}  // namespace dsv4::gpu
