// Token sampling on the device (graph/sampling.h is the same algorithm on the CPU and states the
// semantics): one workgroup per row that ends its sequence in the step, parameters per sequence
// slot in a device buffer (changing them never re-records), presence bitmaps per slot for the
// repetition penalty.
#pragma once
#include <cstdint>
#include <vector>

#include "graph/sampling.h"
#include "graph/vulkan/context.h"
#include "vk/recording.h"

namespace dsv4::gpu {

struct SampleArgs {
  vk::BufferRange step;      // bound ReadWrite when write_step
  vk::BufferRange logits;    // fp32 [max_rows, vocab]
  vk::BufferRange params;    // graph::DeviceSamplingParams [seqs] (32 bytes each; host-written)
  vk::BufferRange presence;  // uint32 [seqs, graph::presence_words(vocab)]; zeroed by the host when
                             // a slot starts a sequence; updated with the picks (mark_picks)
  vk::BufferRange scratch;   // sample_scratch_bytes(vocab, max_rows)
  vk::BufferRange ids;       // int32 [max_rows]: the pick of each last row, -1 for other rows < n_rows
  uint32_t vocab = 0, max_rows = 0;
  bool write_step = false;  // also step.rows[row].token = pick (the next decode step's input)
  bool mark_picks = true;   // a second dispatch adds each pick to its sequence's presence bitmap
};

uint64_t sample_scratch_bytes(uint32_t vocab, uint32_t max_rows);

// The sampler (+ the marking dispatch when mark_picks).
void encode_sample(Context& ctx, const SampleArgs& a, std::vector<vk::Dispatch>& out);

// Adds every step row's token (< n_rows) to its sequence's presence bitmap: run it on prompt
// steps before encode_sample so the prompt counts as previous tokens (decode tokens were marked as
// they were sampled; marking twice is harmless).
struct MarkTokensArgs {
  vk::BufferRange step;
  vk::BufferRange presence;  // uint32 [seqs, graph::presence_words(vocab)]
  uint32_t vocab = 0, max_rows = 0;
};
void encode_mark_tokens(Context& ctx, const MarkTokensArgs& a, std::vector<vk::Dispatch>& out);

}  // namespace dsv4::gpu
