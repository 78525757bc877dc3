// CpuExecutor: runs an op list in plain C++ with the official numerics (model-spec §4). It is the
// oracle the Vulkan kernels are checked against, so every op reads like the spec section it cites.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/mhc.h"
#include "graph/model_weights.h"
#include "graph/moe.h"
#include "graph/op.h"
#include "graph/rope.h"
#include "graph/sequence_state.h"

namespace dsv4::graph {

// Scratch of one step: activations of the chunk's n tokens, by buffer name (row-major [n, width]).
struct Workspace {
  int64_t n = 0;
  std::map<std::string, std::vector<float>> buffers;
  std::vector<HcMix> mixes;                    // per token, from the last hc_pre
  std::vector<Routing> routes;                 // per token, from the last gate
  std::vector<std::vector<int64_t>> index_sel; // per token, from the last indexer top-k
  std::vector<float>& buffer(const std::string& name, size_t size);  // (re)sized, zero-filled
  const std::vector<float>& at(const std::string& name) const;
};

class CpuExecutor {
 public:
  explicit CpuExecutor(std::shared_ptr<const ModelWeights> weights);

  // Runs `ops` for the chunk in `step` on `state` (which must be at step.start_pos) and returns
  // the fp32 logits of the chunk's last position. Does not advance state.position.
  std::vector<float> run(const OpList& ops, const StepParams& step, SequenceState& state, Workspace& ws) const;

  const ModelWeights& weights() const { return *weights_; }

 private:
  void run_op(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const;
  void embed(const StepParams& step, Workspace& ws) const;
  void hc_pre(const Op& op, Workspace& ws) const;
  void rms_norm_op(const Op& op, Workspace& ws) const;
  void attn_query(const Op& op, const StepParams& step, Workspace& ws) const;
  void attn_kv(const Op& op, const StepParams& step, Workspace& ws) const;
  void indexer_query(const Op& op, const StepParams& step, Workspace& ws) const;
  void compressor(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const;
  void indexer_topk(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const;
  void sparse_attention(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const;
  void window_write(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const;
  void attn_output(const Op& op, const StepParams& step, Workspace& ws) const;
  void hc_post(const Op& op, Workspace& ws) const;
  void gate(const Op& op, const StepParams& step, Workspace& ws) const;
  void moe(const Op& op, Workspace& ws) const;
  void mtp_input(const Op& op, const StepParams& step, Workspace& ws) const;
  void hc_head(const Op& op, Workspace& ws) const;
  void head(const Op& op, Workspace& ws) const;

  const BlockWeights& block(int64_t layer) const;

  std::shared_ptr<const ModelWeights> weights_;
  std::vector<RopeTable> rope_;  // per block (main, then MTP)
};

}  // namespace dsv4::graph
