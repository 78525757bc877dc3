// The KV Compressor on the GPU (model-spec §3.5.4; oracle graph/compressor.{h,cpp} and
// CpuExecutor::compressor): one API for the main compressor (native FP8 KV entries into the
// compressed cache) and the indexer's (native FP4 index keys). Its inputs are the fp32 outputs of
// the wkv / wgate linears for this step's rows.
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "vk/recording.h"

namespace dsv4::gpu {

enum class CompressorKind { Main, Index };

struct CompressorArgs {
  CompressorKind kind = CompressorKind::Main;
  vk::BufferRange step, rope;  // step descriptor, rope tables (RopeSlots)
  vk::BufferRange kv, score;   // fp32 [max_rows, coff * d]: wkv(x), wgate(x), rows in_stride apart
  uint32_t in_stride = 0;      // floats between rows of kv and score (0: coff * d; the executor's
                               // stacked wkv|wgate GEMV writes both halves of a 2 * coff * d row)
  vk::BufferRange ape;         // f32 [ratio, coff * d]
  vk::BufferRange norm;        // BF16 [d]
  vk::BufferRange state;       // fp32 [seqs][2][coff * ratio][coff * d] (compressor_state_bytes)
  vk::BufferRange cache;       // [seqs][max_entries][entry] (compressor_entry_bytes each)
  int64_t d = 0;               // head_dim (main) or index_head_dim (index); a power of two <= 1024
  int64_t rope_dim = 0;        // rope dims at the end of the entry
  int64_t ratio = 0;           // compress ratio; 4 overlaps (coff 2)
  uint32_t rope_slot = 0;      // RopeSlots::window_start(ratio)
  int64_t max_entries = 0;     // entries per sequence slot in `cache`
  float eps = 1e-6f;           // norm_eps
  uint32_t max_rows = 0;       // rows the recording serves
  // Only for steps of one row per sequence (decode): the emission kernel also stores each row's
  // state slot (which no emission of the step reads), one dispatch instead of two.
  bool store_in_emit = false;
};

// 2 for the overlapping ratio 4, else 1.
int64_t compressor_coff(int64_t ratio);
// Bytes of the state of `seqs` sequence slots. No clearing is ever needed: window 0 of a sequence
// ignores the previous-window half by position, and the state is read only for positions of the
// sequence before this step, which an earlier step's store wrote.
uint64_t compressor_state_bytes(int64_t ratio, int64_t d, int64_t seqs);
// Bytes of one cache entry: KvEntryLayout{d - rope_dim, rope_dim} or IndexEntryLayout{d}.
uint32_t compressor_entry_bytes(CompressorKind kind, int64_t d, int64_t rope_dim);

// Two dispatches. compressor.emit: one workgroup per row closing a window ((pos + 1) % ratio
// == 0), all windows of a prefill chunk in parallel, each writing entry pos / ratio (dropped if
// >= max_entries) from this step's kv/score rows and the state; compressor.store (max_rows x
// ceil(coff * d / 256) groups): the rows a later step can still need go into the state.
void encode_compressor(Context& ctx, const CompressorArgs& a, std::vector<vk::Dispatch>& out);

}  // namespace dsv4::gpu
