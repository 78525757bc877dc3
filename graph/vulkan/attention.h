// GPU kernels of the attention path between and after the linear layers (model-spec §3.5):
// query-head post-processing, KV-row post-processing, the native window ring write, and sparse
// attention with the sink (fused with the inverse RoPE of attn_output). Oracles: CpuExecutor::
// attn_query / attn_kv / window_write / sparse_attention / attn_output, graph/attention.cpp.
//
// Activations are fp32 row-major [max_rows, width] holding the reference's (bf16) values. Every
// count and position comes from the step descriptor, so one recording serves every step.
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "vk/recording.h"

namespace dsv4::gpu {

// q [max_rows, n_heads * head_dim] after wq_b, in place: head_rms_norm_bf16 per head, then RoPE
// (slot RopeSlots::at_pos(ratio)) on the last rope_dim dims.
// With q16 and q_shift set (prefill on cooperative matrices, q_heads_write_half), the results go
// there as q_half.comp would write them from q (sparse_attention_half_queries), and q is left as
// it was: SparseAttentionArgs::queries_half then skips q_half.
struct QHeadsArgs {
  vk::BufferRange step, rope, q;
  uint32_t max_rows = 0, n_heads = 0, head_dim = 0, rope_dim = 0, rope_slot = 0;
  float eps = 1e-6f;  // ModelConfig::norm_eps
  vk::BufferRange q16, q_shift;
};
void encode_q_heads(Context& ctx, const QHeadsArgs& a, std::vector<vk::Dispatch>& out);

// kv [max_rows, head_dim] after kv_norm, in place: RoPE on the last rope_dim dims, then the FP8
// round-trip (block 64) of the nope dims. With raw and norm_weight set, kv_norm is fused in: kv =
// graph::rms_norm(raw, norm_weight, eps) first (bit for bit encode_rms_norm), in the same dispatch.
struct KvFinishArgs {
  vk::BufferRange step, rope, kv;
  uint32_t max_rows = 0, head_dim = 0, rope_dim = 0, rope_slot = 0;
  vk::BufferRange raw;          // optional: kv_norm's input, fp32 [max_rows, head_dim], distinct from kv
  vk::BufferRange norm_weight;  // with raw: kv_norm's bf16 weight [head_dim]
  float eps = 1e-6f;            // with raw: ModelConfig::norm_eps
  // Optional, with raw: also write the finished rows into the window ring as encode_window_write
  // does, in this dispatch, before the step's sparse attention. Only for steps of one row per
  // sequence (decode): a row's slot then holds the position window back, which no row reads.
  vk::BufferRange ring;
  uint32_t window = 0;
};
void encode_kv_finish(Context& ctx, const KvFinishArgs& a, std::vector<vk::Dispatch>& out);

// Finished kv rows -> ring [seqs][window][KvEntryLayout bytes] (native, cache_layout.h) at slot
// pos % window, for the rows among the last `window` of their sequence in the step. Record it
// AFTER this step's sparse attention (which still reads the overwritten slots' old positions).
struct WindowWriteArgs {
  vk::BufferRange step, kv, ring;
  uint32_t max_rows = 0, head_dim = 0, rope_dim = 0, window = 0;
};
void encode_window_write(Context& ctx, const WindowWriteArgs& a, std::vector<vk::Dispatch>& out);

// Sparse attention with the sink; o [max_rows, n_heads * head_dim] gets bf16(softmax . V) with
// the inverse RoPE at the query position already applied (the start of attn_output).
//   q: [max_rows, n_heads * head_dim] (encode_q_heads output); kv: this step's finished rows;
//   ring: [seqs][window][entry]; compressed: [seqs][entries_per_seq][entry] (ratio > 0);
//   index_sel: int32 [max_rows, index_topk], -1 past the row's count (ratio 4 only);
//   attn_sink: f32 [n_heads]; scratch: sparse_attention_scratch_bytes().
// Unused bindings (compressed for ratio 0, index_sel unless ratio 4) may be left empty.
// n_splits: workgroups sharing one row's keys (flash-decoding); 1 for prefill (rows give the
// parallelism, and scratch stays small), attention_splits() for decode.
struct SparseAttentionArgs {
  vk::BufferRange step, rope, q, kv, ring, compressed, index_sel, attn_sink, scratch, o;
  uint32_t max_rows = 0, n_heads = 0, head_dim = 0, rope_dim = 0, window = 0;
  uint32_t ratio = 0;            // compress ratio of the layer: 0, 4 (CSA) or > 4 (HCA)
  uint32_t entries_per_seq = 0;  // compressed cache capacity per sequence slot
  uint32_t index_topk = 0;
  uint32_t n_splits = 1;
  uint32_t rope_slot = 0;        // RopeSlots::at_pos(ratio)
  uint32_t offset_alignment = 256;  // Caps::min_storage_buffer_offset_alignment (scratch carving)
  // Keep the scores in scratch ([max_rows, n_heads, max_attention_keys] floats) so the second
  // pass skips the dot products: for decode, and for prefill where they fit (kept_scores_fit;
  // prefill at long context would need GBs). The scores then come from a register-tiled kernel
  // (decode_scores.comp) or the coopmat one, not a split pass.
  bool keep_scores = false;
  // With keep_scores: the scores on cooperative matrices (q_half.comp's fp16 queries, then
  // scores_coopmat.comp: 64 heads x 64 keys a workgroup, exact fp16 operands, fp32 sums in another
  // order than decode_scores.comp's), and with one split P.V too (p_half.comp's fp16 weights, then
  // pv_coopmat.comp). Needs attention_coopmat(ctx). For prefill: a decode row's 64 heads leave it
  // few workgroups.
  bool coopmat = false;
  // With coopmat: encode_q_heads has written the fp16 queries and shifts (QHeadsArgs::q16), so no
  // q_half dispatch. Only where q_heads_write_half(*this).
  bool queries_half = false;
};

// Whether q_heads can write a's fp16 queries itself: coopmat, and 32-head groups and 64-dim
// chunks that tile q_half.comp's padded layout exactly (n_heads % 64 == 0, head_dim % 64 == 0).
bool q_heads_write_half(const SparseAttentionArgs& a);
// Where a's fp16 queries and their shifts go in a.scratch (coopmat only).
void sparse_attention_half_queries(const SparseAttentionArgs& a, vk::BufferRange& q16, vk::BufferRange& q_shift);

// Whether the device runs scores_coopmat.comp: fp16 16x16x16 cooperative matrices on subgroups of
// 32 (linear_coopmat_api) and 18 KiB of shared memory.
bool attention_coopmat(const Context& ctx);

// Whether a's kept scores fit one binding of `max_range` bytes and a 1 GiB budget.
bool kept_scores_fit(const SparseAttentionArgs& a, uint64_t max_range);
void encode_sparse_attention(Context& ctx, const SparseAttentionArgs& a, std::vector<vk::Dispatch>& out);

// Bytes of SparseAttentionArgs::scratch: per-split maxima and denominators [max_rows, n_heads,
// n_splits], when n_splits > 1 partial outputs [max_rows, n_splits, n_heads, head_dim], and with
// keep_scores the scores [max_rows, n_heads, max_attention_keys] and their 32-key tiles' maxima
// [max_rows, n_heads, ceil(max_attention_keys / 32)] (floats), with coopmat the fp16 queries
// [max_rows, n_heads up to 64, head_dim up to 64] and their shifts (q_half.comp) and, with one
// split, the fp16 softmax weights [max_rows, n_heads up to 64, max keys up to 32] and
// denominators (p_half.comp); each part aligned.
uint64_t sparse_attention_scratch_bytes(const SparseAttentionArgs& a);

// Splits for decode rows with up to `max_keys` keys (window + compressed): `keys_per_split` keys
// per split (ExecutorOptions::attn_split_keys), at most 256.
constexpr uint32_t kDefaultSplitKeys = 8;
uint32_t attention_splits(uint64_t max_keys, uint32_t keys_per_split = kDefaultSplitKeys);

// Keys a row can see at most: window + index_topk (ratio 4) or + entries_per_seq (ratio > 4).
uint64_t max_attention_keys(uint32_t window, uint32_t ratio, uint32_t index_topk, uint32_t entries_per_seq);

}  // namespace dsv4::gpu
