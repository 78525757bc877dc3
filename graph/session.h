// Session: one sequence on the CPU reference executor (design.md §4.4): prefill(tokens) in
// chunks, decode(token), logits out, reset. Several sessions share one set of weights.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "graph/builder.h"
#include "graph/cpu_executor.h"
#include "graph/sequence_state.h"

namespace dsv4::graph {

struct SessionOptions {
  int64_t max_context = 0;     // 0 = unbounded (the CPU caches grow)
  int64_t prefill_chunk = 0;   // 0 = one chunk per prefill call
};

class Session {
 public:
  explicit Session(std::shared_ptr<const ModelWeights> weights, SessionOptions options = {});

  // Feeds tokens at positions position() .. position()+n-1 (in chunks of prefill_chunk) and
  // returns the fp32 logits of the last one (the prediction of the next token).
  std::vector<float> prefill(std::span<const int64_t> tokens);
  // One token at position(); returns its logits.
  std::vector<float> decode(int64_t token);
  void reset();
  int64_t position() const { return state_.position; }

  // The main model's hc streams [n, hc_mult*dim] of the last call's tokens, before hc_head
  // (the input the MTP block drafts from).
  const std::vector<float>& last_hidden() const { return last_hidden_; }

  // MTP block mtp.0 (model-spec §3.8; needs weights loaded with_mtp): runs it over the positions
  // of the last prefill/decode call, pairing the hidden state of position t with the token of
  // position t+1 (`next_tokens[i]` follows the call's i-th token; DeepSeek-V3/vLLM alignment).
  // Returns the logits of the last pair: a draft of the token two positions after it. Must follow
  // every prefill/decode call to keep the block's own window ring aligned.
  std::vector<float> mtp_draft(std::span<const int64_t> next_tokens);

 private:
  std::vector<float> run_chunk(std::span<const int64_t> tokens);

  std::shared_ptr<const ModelWeights> weights_;
  SessionOptions options_;
  CpuExecutor executor_;
  OpList decode_ops_, prefill_ops_, mtp_ops_;
  SequenceState state_, mtp_state_;
  Workspace ws_, mtp_ws_;
  std::vector<float> last_hidden_;
};

}  // namespace dsv4::graph
