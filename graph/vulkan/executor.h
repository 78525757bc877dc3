// VulkanExecutor (design.md §4.3): runs the Builder's op list on a Vulkan device. Everything is
// allocated once (weights by DeviceModel; activations, caches, step buffers here, sized from the
// MemoryPlan's options) and each step shape is recorded ONCE: a decode step (one row per sequence
// slot) and a prefill chunk (rows of one sequence). A step writes the step descriptor and RoPE
// tables into host-visible buffers and resubmits; positions, counts and ring slots are read by
// the kernels from there, and the next decode token is written by the GPU sampler.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "graph/builder.h"
#include "graph/vulkan/attention.h"
#include "graph/vulkan/context.h"
#include "graph/vulkan/device_model.h"
#include "graph/vulkan/step.h"
#include "vk/recording.h"
#include "vk/staging.h"

namespace dsv4::gpu {

struct ExecutorOptions {
  int64_t max_context = 4096;   // tokens per sequence slot
  uint32_t max_seqs = 1;        // sequence slots = rows of a decode step
  uint32_t prefill_chunk = 64;  // rows of a prefill step
  bool timestamps = false;      // per-dispatch GPU times (profiling)
  // Record the dispatches in dependency levels (vk::order_by_levels): independent ones side by
  // side between barriers. Off: in the graph's op order (for comparison; the same results).
  bool reorder = true;
  // Decode GEMVs quantise their activation in every workgroup where the step's rows fit: FP8
  // linears (gemv_q.comp's fused variant, with q_norm applied there too) and the MoE experts
  // (stage_quant.glsl). Off: act_quant and q_norm dispatches first (for comparison; same results).
  bool fuse_act_quant = true;
  // Decode with one row per step: GEMVs of one input as one dispatch where the weights allow:
  // wq_a and wkv (DeviceAttention::wq_a_wkv), and on ratio-4 layers both compressors' wkv_wgate
  // (DeviceAttention::compressors). Off: a dispatch each (for comparison; same results).
  bool merge_gemvs = true;
  // Decode: the routed and shared experts' gate/up and down GEMVs as one dispatch each
  // (MoeArgs::merge_shared_gemv). Off by default: apart, the shared expert's GEMVs run beside the
  // router and the routed GEMVs, and that measured faster on an H100 (Flash-shaped 4 layers at
  // ctx 4,096: 2.51-2.60 ms/step apart, 2.57-2.62 merged; Pro-shaped 2 layers: even).
  bool merge_expert_gemvs = false;
  // Decode: the MXFP4 expert GEMVs on 16-byte loads (MoeArgs::fp4_wide_gemv; the oracle's
  // results, another summation order). Off: slower on an H100 (bench --fp4-wide-gemv compares).
  bool fp4_wide_gemv = false;
  // Decode: what each hc_post does of the next sub-layer's hc_pre (mhc.h encode_hc_post_pre; the
  // streams then alternate between two buffers). None: hc_post, hc_mix_partials and hc_pre
  // dispatches. Partials: its mix partials, one dispatch fewer per sub-layer. Full: all of it, two
  // fewer, slower (its one-workgroup tail serialises what hc_pre's two workgroups overlap). Auto:
  // Partials with one sequence slot, None with more, as measured on an H100 (session 16, ms/step:
  // Flash-shaped 4 layers, batch 1: 2.51-2.55 Partials, 2.55-2.60 None; Pro-shaped 2 layers:
  // 2.30-2.32 vs 2.32-2.40; batch 8 (session 10, demo model): None 4-14% faster). The same
  // results every way; the constructor resolves Auto (options()).
  enum class HcFusion { None, Partials, Full, Auto };
  HcFusion hc_fusion = HcFusion::Auto;
  // Decode sparse attention: keys per split of a row's longest key list (attention_splits; the
  // splits' P.V workgroups run side by side and attn_merge adds their partials). The same results
  // within the attention tests' tolerance (another summation order of the partials).
  uint32_t attn_split_keys = kDefaultSplitKeys;
  // Decode: the wq_b GEMVs finish their query heads in the workgroups that write them (linear.h
  // QHeadsTail): attention's per-head RMS norm and RoPE instead of a q_heads dispatch, the
  // indexer's RoPE, Hadamard and FP4 round-trip instead of an indexer.query dispatch: a level fewer
  // on each path, the same results bit for bit. Off: those dispatches (bench --q-heads-dispatch).
  bool fuse_q_heads = true;
};

// Sampling parameters of one sequence slot (graph/sampling.h semantics).
struct SlotSampling {
  float temperature = 0.f;  // 0 = greedy
  int32_t top_k = 0;
  float top_p = 1.f, min_p = 0.f, repetition_penalty = 1.f;
  uint64_t seed = 0;
};

struct ExecutorStats {
  size_t recordings = 0;             // command buffers recorded this session (1 per shape)
  size_t decode_dispatches = 0;      // dispatches in the decode recording
  size_t prefill_dispatches = 0;     // dispatches in the prefill recording
  size_t decode_barriers = 0;        // pipeline barriers between the decode recording's dispatches
  size_t prefill_barriers = 0;
  size_t submissions = 0;            // submissions so far
  size_t steps = 0;
};

class VulkanExecutor {
 public:
  VulkanExecutor(vk::Device& device, std::shared_ptr<const DeviceModel> model, ExecutorOptions options,
                 vk::PipelineCache* pipelines = nullptr);
  ~VulkanExecutor();

  const ExecutorOptions& options() const { return options_; }
  const KernelCache& kernels() const { return ctx_.kernels; }
  const ModelConfig& cfg() const { return model_->cfg(); }

  // One step over `rows`: either a prefill chunk (rows of one sequence at consecutive positions,
  // <= prefill_chunk) or a decode step (one row per sequence, <= max_seqs, distinct slots). The
  // last row of each sequence produces logits (out row k = k-th sequence in row order) and, when
  // `sample`, a token chosen on the GPU with the slot's sampling parameters.
  void step(std::span<const StepRow> rows, bool sample);
  // Decode rows whose tokens come from the previous step's GPU sampler (row k = out row k of the
  // previous step): only positions are written by the host.
  void step_feedback(std::span<const StepRow> rows, bool sample);

  std::vector<float> logits(uint32_t out_row);  // fp32 [vocab] of the last step
  std::vector<int32_t> sampled(uint32_t n);     // ids chosen by the GPU sampler in the last step
  void set_sampling(uint32_t slot, const SlotSampling& s);
  // Forgets the tokens slot `slot` has seen (repetition penalty): call when it starts a sequence.
  void clear_slot(uint32_t slot);

  const ExecutorStats& stats() const { return stats_; }
  // Per-dispatch labels and GPU times of the last submission (options.timestamps).
  std::vector<std::pair<std::string, double>> last_profile() const;

 private:
  struct Recorded;
  void allocate_buffers();
  std::unique_ptr<Recorded> record(uint32_t max_rows, bool decode);
  void write_step(std::span<const StepRow> rows, bool keep_tokens);
  void submit(std::span<const StepRow> rows, bool sample);

  vk::Device& device_;
  std::shared_ptr<const DeviceModel> model_;
  ExecutorOptions options_;
  Context ctx_;
  RopeSlots rope_slots_;
  uint32_t max_rows_ = 0;
  std::map<std::string, vk::Buffer> buffers_;
  std::unique_ptr<vk::Arena> arena_;
  std::unique_ptr<vk::StagingRing> staging_;
  std::unique_ptr<Recorded> decode_, prefill_;
  Recorded* last_ = nullptr;
  uint32_t last_out_rows_ = 0;
  ExecutorStats stats_;
};

}  // namespace dsv4::gpu
