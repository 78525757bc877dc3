// The lightning indexer on the GPU (model-spec §3.5.5; oracle graph/indexer.{h,cpp},
// CpuExecutor::indexer_query / indexer_topk): the index queries' RoPE + Hadamard + FP4 round-trip
// in place, and per row the bf16 scores over the visible index keys followed by a GPU top-k.
// Index keys are the native FP4 entries the index compressor writes (graph/vulkan/compressor.h).
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "vk/recording.h"

namespace dsv4::gpu {

struct IndexerQueryArgs {
  vk::BufferRange step, rope;
  vk::BufferRange q;         // fp32 [max_rows, heads * dim], the wq_b output; rewritten in place
  int64_t heads = 0;         // index_n_heads
  int64_t dim = 0;           // index_head_dim, a power of two <= 1024
  int64_t rope_dim = 0;      // rope_head_dim
  uint32_t rope_slot = 0;    // RopeSlots::at_pos(ratio)
  uint32_t max_rows = 0;
};

// One dispatch of (max_rows, heads) workgroups.
void encode_indexer_query(Context& ctx, const IndexerQueryArgs& a, std::vector<vk::Dispatch>& out);

struct IndexerTopkArgs {
  vk::BufferRange step;
  vk::BufferRange q;          // fp32 [max_rows, heads * dim] (after encode_indexer_query)
  vk::BufferRange w;          // fp32 [max_rows, heads]: weights_proj(x) * scale, bf16 values
  vk::BufferRange index_keys; // [seqs][max_entries][IndexEntryLayout{dim}.bytes()]
  vk::BufferRange scores;     // scratch, indexer_scores_bytes(max_rows, max_entries)
  vk::BufferRange index_sel;  // int32 [max_rows, topk]: best first, -1 beyond min(topk, visible)
  int64_t heads = 0, dim = 0; // dim a multiple of 32
  int64_t ratio = 4;          // visible entries of a row at pos: (pos + 1) / ratio
  int64_t topk = 0;           // index_topk
  int64_t max_entries = 0;    // entries per sequence slot of index_keys
  uint32_t max_rows = 0;
};

// Bytes of the score scratch: fp32 [max_rows, max_entries] (1 MiB per row at 262,144 entries; a
// binding must stay within maxStorageBufferRange, 128 MiB on lavapipe).
uint64_t indexer_scores_bytes(uint32_t max_rows, int64_t max_entries);

// Two dispatches: scores (ceil(max_entries / 256), max_rows) groups, then the selection, one
// workgroup per row. Rows >= n_rows and entries >= visible are skipped on the GPU.
void encode_indexer_topk(Context& ctx, const IndexerTopkArgs& a, std::vector<vk::Dispatch>& out);

}  // namespace dsv4::gpu
