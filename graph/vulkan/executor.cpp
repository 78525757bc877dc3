#include "graph/vulkan/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "graph/memory_plan.h"
#include "graph/vulkan/attention.h"
#include "graph/vulkan/compressor.h"
#include "graph/vulkan/embed.h"
#include "graph/vulkan/indexer.h"
#include "graph/vulkan/linear.h"
#include "graph/vulkan/mhc.h"
#include "graph/vulkan/moe.h"
#include "graph/vulkan/norms.h"
#include "graph/vulkan/sampling.h"
#include "weights/error.h"

namespace dsv4::gpu {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}


}  // namespace

// One recorded shape: its dispatches (kept for labels) and the recording.
struct VulkanExecutor::Recorded {
  uint32_t max_rows = 0;
  std::vector<std::string> labels;
  std::unique_ptr<vk::Recording> recording;
};

VulkanExecutor::VulkanExecutor(vk::Device& device, std::shared_ptr<const DeviceModel> model, ExecutorOptions options,
                               vk::PipelineCache* pipelines)
    : device_(device), model_(std::move(model)), options_(options), ctx_(device, pipelines), rope_slots_(model_->cfg()) {
  if (options_.max_seqs < 1 || options_.prefill_chunk < 1 || options_.max_context < 1)
    throw std::invalid_argument("executor options must be positive");
  max_rows_ = std::max(options_.max_seqs, options_.prefill_chunk);
  using F = ExecutorOptions::HcFusion;
  if (options_.hc_fusion == F::Auto) options_.hc_fusion = options_.max_seqs == 1 ? F::Partials : F::None;
  staging_ = std::make_unique<vk::StagingRing>(device_, 8ull << 20);
  allocate_buffers();
}

VulkanExecutor::~VulkanExecutor() {
  try {
    device_.wait_idle();
  } catch (...) {
  }
}

namespace {

// Turns the op list into dispatches for one recorded shape (max_rows rows).
class StepEncoder {
 public:
  // decode: a step of one row per sequence (VulkanExecutor::submit's decode recording).
  StepEncoder(Context& ctx, const DeviceModel& m, std::map<std::string, vk::Buffer>& b, uint32_t max_rows, bool decode,
              const RopeSlots& slots, const ExecutorOptions& o)
      : ctx_(ctx), m_(m), c_(m.cfg()), b_(b), max_rows_(max_rows), decode_(decode), slots_(slots), o_(o),
        merge_one_row_(decode && max_rows == 1 && o.merge_gemvs),
        // qr_raw and kv_raw are the two parts of the wq_a + wkv GEMV's output row.
        qkv_views_(merge_one_row_ && bindable_at(uint64_t(m.cfg().q_lora_rank) * 4)) {}

  std::vector<vk::Dispatch> encode(const graph::OpList& ops) {
    for (const graph::Op& op : ops.ops) encode_op(op);
    sample();
    return std::move(out_);
  }

 private:
  vk::BufferRange buf(const std::string& name) const {
    if (qkv_views_ && (name == "qr_raw" || name == "kv_raw")) {
      const vk::BufferRange both = buf("qkv_raw");
      const uint64_t q = uint64_t(c_.q_lora_rank) * 4;
      if (name == "qr_raw") return {both.buffer, both.offset, q};
      return {both.buffer, both.offset + q, uint64_t(c_.head_dim) * 4};
    }
    const auto it = b_.find(name);
    if (it == b_.end()) throw std::logic_error("executor: no buffer '" + name + "'");
    return it->second.range();
  }
  vk::BufferRange step() const { return buf("step"); }
  vk::BufferRange out_step() const { return buf("out_step"); }
  const DeviceBlock& block(int64_t layer) const { return m_.layers.at(size_t(layer)); }
  // Whether a binding may start `bytes` into another one (an offset the device accepts).
  bool bindable_at(uint64_t bytes) const { return bytes % ctx_.device.caps().min_storage_buffer_offset_alignment == 0; }
  // Whether `layer`'s compressors (the main one and the indexer's) run as one GEMV into
  // comp_kvs_both (decode, one row): each reads its own part of the row as a stacked compressor.
  bool compressors_merged(int64_t layer) const {
    const DeviceAttention& a = block(layer).attn;
    return merge_one_row_ && a.compressors.rows > 0 && stacked_compressor(a.compressor) &&
           stacked_compressor(a.index_compressor) && bindable_at(uint64_t(a.compressor.wkv_wgate.rows) * 4);
  }
  // Whether `layer`'s wq_a and wkv run as one GEMV (in attn_query) into qkv_raw.
  bool wq_a_wkv_merged(int64_t layer) const { return qkv_views_ && block(layer).attn.wq_a_wkv.rows > 0; }

  void linear(const DeviceMatrix& w, const std::string& x, const std::string& y, const std::string& label,
              LinearOutput output = LinearOutput::Bf16, bool act_quant = true, int64_t groups = 1,
              float out_scale = 1.f, bool out_rows = false) {
    encode_linear(ctx_, linear_args(w, x, y, label, output, act_quant, groups, out_scale, out_rows), out_);
  }

  // The query path's wq_b of `layer` (the attention's or the indexer's) with q_norm applied inside
  // the GEMV to qr_raw, where both can (q_norm_fused).
  LinearArgs q_norm_linear(int64_t layer, const DeviceMatrix& w, const std::string& y, const std::string& label) const {
    LinearArgs a = linear_args(w, "qr_raw", y, label);
    a.norm = &block(layer).attn.q_norm;
    a.norm_eps = float(c_.norm_eps);
    return a;
  }
  // Whether q_norm runs inside the wq_b GEMVs that read qr (the attention's and, on CSA layers,
  // the indexer's) instead of a dispatch of its own: both must be able to (decode, the batch in
  // one fused block).
  bool q_norm_fused(int64_t layer) const {
    const DeviceAttention& a = block(layer).attn;
    return o_.fuse_act_quant && linear_fuses_norm(q_norm_linear(layer, a.wq_b, "q", "")) &&
           (!a.has_indexer || linear_fuses_norm(q_norm_linear(layer, a.index_wq_b, "index_q", "")));
  }

  LinearArgs linear_args(const DeviceMatrix& w, const std::string& x, const std::string& y, const std::string& label,
                         LinearOutput output = LinearOutput::Bf16, bool act_quant = true, int64_t groups = 1,
                         float out_scale = 1.f, bool out_rows = false) const {
    LinearArgs a;
    a.w = &w;
    a.step = out_rows ? out_step() : step();
    a.x = buf(x);
    a.y = buf(y);
    a.max_rows = out_rows ? o_.max_seqs : max_rows_;
    a.act_quant = act_quant;
    a.output = output;
    a.groups = groups;
    a.out_scale = out_scale;
    a.label = label;
    // Decode (and the head's rows) always on the GEMV: its per-row results do not depend on the
    // batch size, so neither does a sequence's output (linear.h).
    if (out_rows || max_rows_ == o_.max_seqs) a.path = LinearPath::Gemv;
    a.scratch = buf("linear_scratch");  // quantised activation of the decode GEMV (linear.h)
    a.fuse_act_quant = o_.fuse_act_quant;
    if (a.scratch.size < linear_scratch_bytes(ctx_, a)) {
      a.scratch = {};
      // Only the tiled coopmat kernels take an unquantised input (wo_a): without their scratch, the scalar GEMM.
      if (!act_quant && resolve_linear_path(ctx_, a) == LinearPath::GemmCoopmat) a.path = LinearPath::GemmScalar;
    }
    return a;
  }

  void norm_rows(const DeviceMatrix& w, const std::string& x, const std::string& y, int64_t dim,
                 const std::string& label, bool out_rows = false);
  void q_heads(const graph::Op& op);
  // A wq_b's head finishing (linear.h QHeadsTail) for `op`'s layer, and encode_linear(a) with it
  // where the options and linear_fuses_q_heads allow (decode): whether it went in.
  QHeadsTail q_heads_tail(const graph::Op& op, QHeadsTail::Kind kind) const;
  bool encode_with_heads(LinearArgs a, const QHeadsTail& tail);
  void kv_finish(const graph::Op& op, const DeviceMatrix& kv_norm);
  void index_q_finish(const graph::Op& op);
  void compress(const graph::Op& op, const DeviceCompressor& w, bool index, vk::BufferRange kvs);
  bool stacked_compressor(const DeviceCompressor& w) const;
  uint32_t entries_per_seq(int64_t layer) const;
  SparseAttentionArgs attention_args(int64_t layer) const;
  void sample();
  // Runs `encode` and prefixes the labels of the dispatches it appended with the op's module.
  template <class F>
  void label_from(const std::string& label, F&& encode) {
    const size_t first = out_.size();
    encode();
    for (size_t i = first; i < out_.size(); ++i)
      if (out_[i].label.rfind(label, 0) != 0) out_[i].label = label + (out_[i].label.empty() ? "" : " " + out_[i].label);
  }

 public:
  // Scratch sizes the recorded shapes need (the executor allocates the largest).
  uint64_t attention_scratch_bytes() const {
    uint64_t b = 16;
    for (int64_t i = 0; i < c_.n_layers; ++i) b = std::max(b, sparse_attention_scratch_bytes(attention_args(i)));
    return b;
  }

 private:
  void encode_op(const graph::Op& op);
  void embed(const graph::Op& op);
  void hc_pre(const graph::Op& op);
  void rms_norm(const graph::Op& op);
  void attn_query(const graph::Op& op);
  void attn_kv(const graph::Op& op);
  void indexer_query(const graph::Op& op);
  void compressor(const graph::Op& op);
  void indexer_topk(const graph::Op& op);
  void sparse_attention(const graph::Op& op);
  void window_write(const graph::Op& op);
  void attn_output(const graph::Op& op);
  void hc_post(const graph::Op& op);
  void gate(const graph::Op& op);
  void moe(const graph::Op& op);
  MoeArgs moe_args(int64_t layer) const;
  void hc_head(const graph::Op& op);
  void head(const graph::Op& op);
  void gather_last_rows();

  Context& ctx_;
  const DeviceModel& m_;
  const ModelConfig& c_;
  std::map<std::string, vk::Buffer>& b_;
  uint32_t max_rows_;
  bool decode_;
  const RopeSlots& slots_;
  const ExecutorOptions& o_;
  bool merge_one_row_;  // decode, one row: GEMVs of one input merge (ExecutorOptions::merge_gemvs)
  bool qkv_views_;      // and qr_raw and kv_raw are views into qkv_raw
  std::vector<vk::Dispatch> out_;
  // The last hc_pre also wrote its block's RMSNorm into "x" (HcPreArgs::norm_weight): the norm
  // op right after it is skipped. Layer and whether it was the ffn half.
  struct FusedNorm {
    int64_t layer;
    bool ffn;
  };
  std::optional<FusedNorm> fused_norm_;
  // The buffer holding the residual streams: "hc", or "hc_alt" after an odd number of fused
  // hc_post_pre dispatches (they write out of place).
  std::string streams_ = "hc";
  // The hc_pre that the last hc_post already ran (whole) or computed the mix partials of
  // (encode_hc_post_pre, ExecutorOptions::hc_fusion).
  struct PendingPre {
    int64_t layer;
    bool ffn, whole;
  };
  std::optional<PendingPre> pending_pre_;
  HcPreArgs hc_pre_args(int64_t layer, bool ffn, const std::string& streams) const;
};

void StepEncoder::encode_op(const graph::Op& op) {
  using K = graph::OpKind;
  if (op.kind != K::RmsNorm) fused_norm_.reset();  // only the op right after hc_pre may use it
  switch (op.kind) {
    case K::Embed: return embed(op);
    case K::HcPre: return hc_pre(op);
    case K::RmsNorm: return rms_norm(op);
    case K::AttnQuery: return attn_query(op);
    case K::AttnKv: return attn_kv(op);
    case K::IndexerQuery: return indexer_query(op);
    case K::Compressor: return compressor(op);
    case K::IndexerTopk: return indexer_topk(op);
    case K::SparseAttention: return sparse_attention(op);
    case K::WindowWrite: return window_write(op);
    case K::AttnOutput: return attn_output(op);
    case K::HcPost: return hc_post(op);
    case K::Gate: return gate(op);
    case K::Moe: return moe(op);
    case K::HcHead: return hc_head(op);
    case K::Head: return head(op);
    case K::MtpInput: break;
  }
  throw std::logic_error(std::string("the Vulkan executor has no kernel for op ") + graph::op_kind_name(op.kind) + " (" +
                         op.name + ")");
}

// §3.5.1: qr = q_norm(wq_a(x)); q = wq_b(qr); per-head RMS + RoPE.
void StepEncoder::attn_query(const graph::Op& op) {
  const DeviceAttention& a = block(op.layer).attn;
  if (wq_a_wkv_merged(op.layer)) linear(a.wq_a_wkv, "x", "qkv_raw", op.name + ".wq_a+wkv");
  else linear(a.wq_a, "x", "qr_raw", op.name + ".wq_a");
  LinearArgs wq_b;
  if (q_norm_fused(op.layer)) {
    wq_b = q_norm_linear(op.layer, a.wq_b, "q", op.name + ".wq_b");
  } else {
    norm_rows(a.q_norm, "qr_raw", "qr", c_.q_lora_rank, op.name + ".q_norm");
    wq_b = linear_args(a.wq_b, "qr", "q", op.name + ".wq_b");
  }
  // Decode: wq_b's workgroups finish the query heads (ExecutorOptions::fuse_q_heads).
  const QHeadsTail tail = q_heads_tail(op, QHeadsTail::Kind::Attention);
  if (!encode_with_heads(wq_b, tail)) q_heads(op);
}

QHeadsTail StepEncoder::q_heads_tail(const graph::Op& op, QHeadsTail::Kind kind) const {
  const bool index = kind == QHeadsTail::Kind::Indexer;
  QHeadsTail t;
  t.kind = kind;
  t.rope = buf("rope");
  t.counters = buf(index ? "index_q_counters" : "q_heads_counters");  // the two wq_b may run side by side
  t.n_heads = uint32_t(index ? c_.index_n_heads : c_.n_heads);
  t.head_dim = uint32_t(index ? c_.index_head_dim : c_.head_dim);
  t.rope_dim = uint32_t(c_.rope_head_dim);
  t.rope_slot = slots_.at_pos(c_.ratio(op.layer));
  t.eps = c_.norm_eps;
  return t;
}

bool StepEncoder::encode_with_heads(LinearArgs a, const QHeadsTail& tail) {
  if (decode_ && o_.fuse_q_heads) a.q_heads = &tail;
  if (a.q_heads != nullptr && !linear_fuses_q_heads(ctx_, a)) a.q_heads = nullptr;
  encode_linear(ctx_, a, out_);
  return a.q_heads != nullptr;
}

// §3.5.2: kv = kv_norm(wkv(x)); RoPE; FP8 round-trip of the nope dims (one dispatch after wkv).
void StepEncoder::attn_kv(const graph::Op& op) {
  const DeviceAttention& a = block(op.layer).attn;
  if (!wq_a_wkv_merged(op.layer)) linear(a.wkv, "x", "kv_raw", op.name + ".wkv");  // else in attn_query
  kv_finish(op, a.kv_norm);  // kv_norm fused in
}

// §3.5.5 steps 1, 3: index queries (wq_b, RoPE, Hadamard, FP4) and head weights (weights_proj x scale).
void StepEncoder::indexer_query(const graph::Op& op) {
  const DeviceAttention& a = block(op.layer).attn;
  const LinearArgs wq_b = q_norm_fused(op.layer) ? q_norm_linear(op.layer, a.index_wq_b, "index_q", op.name + ".wq_b")
                                                : linear_args(a.index_wq_b, "qr", "index_q", op.name + ".wq_b");
  const QHeadsTail tail = q_heads_tail(op, QHeadsTail::Kind::Indexer);
  if (!encode_with_heads(wq_b, tail)) index_q_finish(op);
  const float scale = float(std::pow(double(c_.index_head_dim), -0.5) * std::pow(double(c_.index_n_heads), -0.5));
  linear(a.index_weights_proj, "x", "index_w", op.name + ".weights_proj", LinearOutput::Bf16, true, 1, scale);
}

// §3.5.4: wkv/wgate in fp32, then the state update and emission kernel.
void StepEncoder::compressor(const graph::Op& op) {
  const DeviceAttention& a = block(op.layer).attn;
  const bool index = ends_with(op.name, ".indexer.compressor");
  const DeviceCompressor& w = index ? a.index_compressor : a.compressor;
  if (compressors_merged(op.layer)) {
    // One GEMV for both compressors, in the indexer's (the first op); each emits from its part.
    const int64_t main_rows = a.compressor.wkv_wgate.rows;
    if (index) linear(a.compressors, "x", "comp_kvs_both", op.name + "s.wkv_wgate", LinearOutput::F32);
    const vk::BufferRange both = buf("comp_kvs_both");
    const uint64_t at = index ? uint64_t(main_rows) * 4 : 0, size = uint64_t(w.wkv_wgate.rows) * 4;
    compress(op, w, index, {both.buffer, both.offset + at, size});
    return;
  }
  const bool stacked = stacked_compressor(w);
  if (stacked) {
    linear(w.wkv_wgate, "x", "comp_kvs", op.name + ".wkv_wgate", LinearOutput::F32);
  } else {
    linear(w.wkv, "x", "comp_kv", op.name + ".wkv", LinearOutput::F32);
    linear(w.wgate, "x", "comp_score", op.name + ".wgate", LinearOutput::F32);
  }
  compress(op, w, index, stacked ? buf("comp_kvs") : vk::BufferRange{});
}

// §3.5.9-10: (inverse RoPE is fused into sparse attention) grouped wo_a over bf16 weights, wo_b.
void StepEncoder::attn_output(const graph::Op& op) {
  const DeviceAttention& a = block(op.layer).attn;
  linear(a.wo_a, "o", "z", op.name + ".wo_a", LinearOutput::Bf16, false, c_.o_groups);
  linear(a.wo_b, "z", "attn_out", op.name + ".wo_b");
}

// §3.7: the last row of each sequence: gather, hc_head, norm, fp32 head.
void StepEncoder::head(const graph::Op& op) {
  linear(m_.head, "head_x", "logits", op.name, LinearOutput::F32, true, 1, 1.f, true);
}

// §3.6 Gate: scores, selection (bias or tid2eid), normalised weights.
void StepEncoder::gate(const graph::Op& op) {
  const DeviceMoe& f = block(op.layer).ffn;
  GateArgs a;
  a.gate = &f.gate;
  if (c_.is_hash_layer(op.layer)) a.tid2eid = f.tid2eid.data;
  else a.bias = f.bias.data;
  a.step = step();
  a.x = buf("x");
  a.route = buf("route");
  a.logits = buf("gate_logits");  // the split path: expert logits over many workgroups, the last selects
  a.counters = buf("gate_counters");
  a.tiled = max_rows_ > o_.max_seqs;  // prefill recordings: all rows' logits as one tiled product
  a.max_rows = max_rows_;
  a.n_experts = c_.n_routed_experts;
  a.topk = c_.n_activated_experts;
  a.route_scale = c_.route_scale;
  label_from(op.name, [&] { encode_gate(ctx_, a, out_); });
}

// §3.6 MoE: the selected routed experts + the shared expert, combined in fp32.
void StepEncoder::moe(const graph::Op& op) {
  const MoeArgs a = moe_args(op.layer);
  label_from(op.name, [&] { encode_moe(ctx_, a, out_); });
}

MoeArgs StepEncoder::moe_args(int64_t layer) const {
  const DeviceMoe& f = block(layer).ffn;
  MoeArgs a;
  a.w1 = &f.w1;
  a.w3 = &f.w3;
  a.w2 = &f.w2;
  a.s1 = &f.s1;
  a.s3 = &f.s3;
  a.s2 = &f.s2;
  a.step = step();
  a.x = buf("x");
  a.route = buf("route");
  a.scratch = buf("moe_scratch");
  a.max_rows = max_rows_;
  a.dim = c_.dim;
  a.inter_dim = c_.moe_inter_dim;
  a.topk = c_.n_activated_experts;
  a.swiglu_limit = c_.swiglu_limit;
  // Decode keeps the per-(row, expert) GEMV at every batch size: a row's result then does not
  // depend on the batch (the grouped GEMM sums in another order), and a decode step's rows rarely
  // share an expert enough for the GEMM's weight reuse to pay.
  if (max_rows_ == o_.max_seqs) a.path = MoePath::Gemv;
  a.coopmat = a.path != MoePath::Gemv && moe_coopmat(ctx_);  // the scratch is sized for it (allocate_buffers)
  a.combine = false;  // the FFN's hc_post combines the expert outputs (its only reader)
  a.quantise_in_gemv = o_.fuse_act_quant;
  a.merge_shared_gemv = o_.merge_expert_gemvs;
  a.fp4_wide_gemv = o_.fp4_wide_gemv;
  return a;
}

uint32_t StepEncoder::entries_per_seq(int64_t layer) const {
  const int64_t r = c_.ratio(layer);
  return r > 0 ? uint32_t(std::max<int64_t>(1, o_.max_context / r)) : 0;
}

SparseAttentionArgs StepEncoder::attention_args(int64_t layer) const {
  const std::string p = "layers." + std::to_string(layer);
  const uint32_t ratio = uint32_t(c_.ratio(layer));
  SparseAttentionArgs a;
  a.step = step();
  a.rope = buf("rope");
  a.q = buf("q");
  a.kv = buf("kv");
  a.ring = buf(p + ".window");
  if (ratio > 0) a.compressed = buf(p + ".compressed");
  if (ratio == 4) a.index_sel = buf("index_sel");
  a.attn_sink = block(layer).attn.attn_sink.data;
  a.o = buf("o");
  a.max_rows = max_rows_;
  a.n_heads = uint32_t(c_.n_heads);
  a.head_dim = uint32_t(c_.head_dim);
  a.rope_dim = uint32_t(c_.rope_head_dim);
  a.window = uint32_t(c_.window_size);
  a.ratio = ratio;
  a.entries_per_seq = entries_per_seq(layer);
  a.index_topk = uint32_t(c_.index_topk);
  const bool decode = max_rows_ <= o_.max_seqs;
  a.n_splits =
      decode ? attention_splits(max_attention_keys(a.window, ratio, a.index_topk, a.entries_per_seq), o_.attn_split_keys) : 1;
  // Pass 1 reads the stored scores: always in decode, in prefill where they fit (on an H100 the
  // register-tiled score kernel beats the prefill split passes, bench/README.md session 13).
  a.keep_scores = decode || kept_scores_fit(a, ctx_.device.caps().max_storage_buffer_range);
  a.coopmat = a.keep_scores && !decode && attention_coopmat(ctx_);
  a.queries_half = q_heads_write_half(a);  // the layer's q_heads writes them (StepEncoder::q_heads)
  a.rope_slot = slots_.at_pos(ratio);
  a.offset_alignment = uint32_t(ctx_.device.caps().min_storage_buffer_offset_alignment);
  return a;
}

void StepEncoder::q_heads(const graph::Op& op) {
  QHeadsArgs a;
  a.step = step();
  a.rope = buf("rope");
  a.q = buf("q");
  a.max_rows = max_rows_;
  a.n_heads = uint32_t(c_.n_heads);
  a.head_dim = uint32_t(c_.head_dim);
  a.rope_dim = uint32_t(c_.rope_head_dim);
  a.rope_slot = slots_.at_pos(c_.ratio(op.layer));
  a.eps = c_.norm_eps;
  SparseAttentionArgs sa = attention_args(op.layer);  // on coopmat, the fp16 queries of scores_coopmat
  if (sa.queries_half) {
    sa.scratch = buf("attn_scratch");
    sparse_attention_half_queries(sa, a.q16, a.q_shift);
  }
  label_from(op.name + ".q_heads", [&] { encode_q_heads(ctx_, a, out_); });
}

void StepEncoder::kv_finish(const graph::Op& op, const DeviceMatrix& kv_norm) {
  KvFinishArgs a;
  a.step = step();
  a.rope = buf("rope");
  a.kv = buf("kv");
  a.raw = buf("kv_raw");
  a.norm_weight = kv_norm.data;
  a.eps = c_.norm_eps;
  a.max_rows = max_rows_;
  a.head_dim = uint32_t(c_.head_dim);
  a.rope_dim = uint32_t(c_.rope_head_dim);
  a.rope_slot = slots_.at_pos(c_.ratio(op.layer));
  if (decode_) {  // one row per sequence: the ring write goes here (window_write below is skipped)
    a.ring = buf("layers." + std::to_string(op.layer) + ".window");
    a.window = uint32_t(c_.window_size);
  }
  label_from(op.name + ".kv_finish", [&] { encode_kv_finish(ctx_, a, out_); });
}

void StepEncoder::index_q_finish(const graph::Op& op) {
  IndexerQueryArgs a;
  a.step = step();
  a.rope = buf("rope");
  a.q = buf("index_q");
  a.heads = c_.index_n_heads;
  a.dim = c_.index_head_dim;
  a.rope_dim = c_.rope_head_dim;
  a.rope_slot = slots_.at_pos(c_.ratio(op.layer));
  a.max_rows = max_rows_;
  label_from(op.name + ".q", [&] { encode_indexer_query(ctx_, a, out_); });
}

// Whether wkv and wgate run as one GEMV into comp_kvs (kv | score per row): they must abut in
// memory, and the score half must start at a storage-buffer offset the device accepts.
bool StepEncoder::stacked_compressor(const DeviceCompressor& w) const {
  return w.wkv_wgate.rows > 0 && bindable_at(uint64_t(w.wkv.rows) * 4);
}

// kvs: a stacked GEMV's output (kv | score per row); empty: comp_kv and comp_score are read.
void StepEncoder::compress(const graph::Op& op, const DeviceCompressor& w, bool index, vk::BufferRange kvs) {
  const std::string p = "layers." + std::to_string(op.layer);
  const int64_t ratio = c_.ratio(op.layer);
  CompressorArgs a;
  a.kind = index ? CompressorKind::Index : CompressorKind::Main;
  a.step = step();
  a.rope = buf("rope");
  if (kvs.size > 0) {
    const uint64_t half = uint64_t(w.wkv.rows) * 4;
    a.kv = {kvs.buffer, kvs.offset, kvs.size - half};
    a.score = {kvs.buffer, kvs.offset + half, kvs.size - half};
    a.in_stride = uint32_t(2 * w.wkv.rows);
  } else {
    a.kv = buf("comp_kv");
    a.score = buf("comp_score");
  }
  a.ape = w.ape.data;
  a.norm = w.norm.data;
  a.state = buf(p + (index ? ".index_state" : ".compressor_state"));
  a.cache = buf(p + (index ? ".index_keys" : ".compressed"));
  a.d = index ? c_.index_head_dim : c_.head_dim;
  a.rope_dim = c_.rope_head_dim;
  a.ratio = ratio;
  a.rope_slot = slots_.window_start(ratio);
  a.store_in_emit = decode_;  // one row per sequence
  a.max_entries = entries_per_seq(op.layer);
  a.eps = c_.norm_eps;
  a.max_rows = max_rows_;
  label_from(op.name, [&] { encode_compressor(ctx_, a, out_); });
}

void StepEncoder::indexer_topk(const graph::Op& op) {
  IndexerTopkArgs a;
  a.step = step();
  a.q = buf("index_q");
  a.w = buf("index_w");
  a.index_keys = buf("layers." + std::to_string(op.layer) + ".index_keys");
  a.scores = buf("index_scores");
  a.index_sel = buf("index_sel");
  a.heads = c_.index_n_heads;
  a.dim = c_.index_head_dim;
  a.ratio = c_.ratio(op.layer);
  a.topk = c_.index_topk;
  a.max_entries = entries_per_seq(op.layer);
  a.max_rows = max_rows_;
  label_from(op.name + ".topk", [&] { encode_indexer_topk(ctx_, a, out_); });
}

void StepEncoder::sparse_attention(const graph::Op& op) {
  SparseAttentionArgs a = attention_args(op.layer);
  a.scratch = buf("attn_scratch");
  label_from(op.name + ".sparse_attention", [&] { encode_sparse_attention(ctx_, a, out_); });
}

void StepEncoder::window_write(const graph::Op& op) {
  if (decode_) return;  // kv_finish wrote the ring
  WindowWriteArgs a;
  a.step = step();
  a.kv = buf("kv");
  a.ring = buf("layers." + std::to_string(op.layer) + ".window");
  a.max_rows = max_rows_;
  a.head_dim = uint32_t(c_.head_dim);
  a.rope_dim = uint32_t(c_.rope_head_dim);
  a.window = uint32_t(c_.window_size);
  label_from(op.name + ".window_write", [&] { encode_window_write(ctx_, a, out_); });
}

void StepEncoder::norm_rows(const DeviceMatrix& w, const std::string& x, const std::string& y, int64_t dim,
                            const std::string& label, bool out_rows) {
  RmsNormArgs a;
  a.step = out_rows ? out_step() : step();
  a.x = buf(x);
  a.weight = w.data;
  a.y = buf(y);
  a.dim = uint32_t(dim);
  a.max_rows = out_rows ? o_.max_seqs : max_rows_;
  a.eps = c_.norm_eps;
  const size_t first = out_.size();
  encode_rms_norm(ctx_, a, out_);
  for (size_t i = first; i < out_.size(); ++i) out_[i].label = label;
}

void StepEncoder::embed(const graph::Op&) {
  // Every step marks its rows' tokens as seen (repetition penalty) before anything samples.
  MarkTokensArgs mt;
  mt.step = step();
  mt.presence = buf("presence");
  mt.vocab = uint32_t(c_.vocab_size);
  mt.max_rows = max_rows_;
  label_from("sample.mark_tokens", [&] { encode_mark_tokens(ctx_, mt, out_); });
  EmbedArgs a;
  a.step = step();
  a.table = &m_.embed;
  a.hc_out = buf("hc");
  a.status = buf("status");
  a.hc = uint32_t(c_.hc_mult);
  a.max_rows = max_rows_;
  label_from("embed", [&] { encode_embed(ctx_, a, out_); });
}

HcDeviceWeights hc_weights(const DeviceHc& h) { return {h.fn.data, h.base.data, h.scale.data}; }

HcPreArgs StepEncoder::hc_pre_args(int64_t layer, bool ffn, const std::string& streams) const {
  const DeviceBlock& b = block(layer);
  HcPreArgs a;
  a.step = step();
  a.streams = buf(streams);
  a.w = hc_weights(ffn ? b.hc_ffn : b.hc_attn);
  a.y = buf("y");
  a.post = buf("hc_post");
  a.comb = buf("hc_comb");
  a.dim = uint32_t(c_.dim);
  a.hc = uint32_t(c_.hc_mult);
  a.max_rows = max_rows_;
  a.sinkhorn_iters = uint32_t(c_.hc_sinkhorn_iters);
  a.mix_partials = buf("hc_mix_scratch");  // the mix dots spread over many workgroups
  a.hc_eps = c_.hc_eps;
  a.norm_eps = c_.norm_eps;
  a.norm_weight = (ffn ? b.ffn_norm : b.attn_norm).data;  // the norm op that follows (rms_norm below)
  a.norm_out = buf("x");
  a.rms_eps = c_.norm_eps;
  return a;
}

void StepEncoder::hc_pre(const graph::Op& op) {
  const bool ffn = ends_with(op.name, ".hc_ffn");
  HcPreArgs a = hc_pre_args(op.layer, ffn, streams_);
  const std::optional<PendingPre> pending = pending_pre_;
  pending_pre_.reset();
  if (pending && (pending->layer != op.layer || pending->ffn != ffn))
    throw std::logic_error("executor: hc_post fused another hc_pre than " + op.name);
  a.partials_ready = pending.has_value();
  if (!pending || !pending->whole) label_from(op.name, [&] { encode_hc_pre(ctx_, a, out_); });
  fused_norm_.reset();
  if (hc_pre_fuses_norm(a)) fused_norm_ = FusedNorm{op.layer, ffn};
}

// hc_post; in decode together with (part of) the next sub-layer's hc_pre (the next layer's
// attention half after an FFN), out of place into the other stream buffer.
void StepEncoder::hc_post(const graph::Op& op) {
  HcPostArgs a;
  a.step = step();
  a.f = buf(op.reads[0]);
  a.post = buf("hc_post");
  a.comb = buf("hc_comb");
  a.streams = buf(streams_);
  a.dim = uint32_t(c_.dim);
  a.hc = uint32_t(c_.hc_mult);
  a.max_rows = max_rows_;
  if (op.reads[0] == "ffn_out") {  // the MoE left its expert outputs uncombined (moe_args)
    a.parts = moe_parts(moe_args(op.layer));
    a.route = buf("route");
    a.topk = uint32_t(c_.n_activated_experts);
  }
  const bool ffn = ends_with(op.name, ".hc_ffn");
  const int64_t next_layer = ffn ? op.layer + 1 : op.layer;
  using F = ExecutorOptions::HcFusion;
  if (o_.hc_fusion != F::None && max_rows_ <= o_.max_seqs && next_layer < c_.n_layers) {
    const std::string other = streams_ == "hc" ? "hc_alt" : "hc";
    const bool whole = o_.hc_fusion == F::Full;
    HcPostPreArgs f{a, hc_pre_args(next_layer, !ffn, other), buf("hc_counters"), whole};
    if (hc_post_pre_supported(ctx_, f.pre, whole)) {
      label_from(op.name, [&] { encode_hc_post_pre(ctx_, f, out_); });
      streams_ = other;
      pending_pre_ = PendingPre{next_layer, !ffn, whole};
      return;
    }
  }
  label_from(op.name, [&] { encode_hc_post(ctx_, a, out_); });
}

void StepEncoder::rms_norm(const graph::Op& op) {
  if (op.name == "norm") return norm_rows(m_.norm, "head_y", "head_x", c_.dim, "norm", true);
  const bool ffn = ends_with(op.name, ".ffn_norm");
  const bool fused = fused_norm_ && fused_norm_->layer == op.layer && fused_norm_->ffn == ffn &&
                     (ffn || ends_with(op.name, ".attn_norm"));
  fused_norm_.reset();
  if (fused) return;  // hc_pre wrote "x" already
  const DeviceBlock& b = block(op.layer);
  norm_rows(ffn ? b.ffn_norm : b.attn_norm, "y", "x", c_.dim, op.name);
}

// §3.7: the last row of each sequence is gathered, collapsed (hc_head) and normalised.
void StepEncoder::hc_head(const graph::Op& op) {
  gather_last_rows();
  HcHeadArgs a;
  a.step = out_step();
  a.streams = buf("head_hc");
  a.w = hc_weights(m_.hc_head);
  a.y = buf("head_y");
  a.mix_partials = buf("hc_mix_scratch");
  a.dim = uint32_t(c_.dim);
  a.hc = uint32_t(c_.hc_mult);
  a.max_rows = o_.max_seqs;
  a.hc_eps = c_.hc_eps;
  a.norm_eps = c_.norm_eps;
  label_from(op.name, [&] { encode_hc_head(ctx_, a, out_); });
}

// After the head: the GPU sampler picks each sequence's next token and feeds it to the next step.
void StepEncoder::sample() {
  SampleArgs a;
  a.step = out_step();
  a.logits = buf("logits");
  a.params = buf("sampling_params");
  a.presence = buf("presence");
  a.scratch = buf("sample_scratch");
  a.ids = buf("sampled");
  a.vocab = uint32_t(c_.vocab_size);
  a.max_rows = o_.max_seqs;
  a.write_step = false;
  a.mark_picks = true;
  label_from("sample", [&] { encode_sample(ctx_, a, out_); });
  const vk::Kernel& k = ctx_.kernels.get({"exec/feed_tokens", 3, 0, {}, 0});
  out_.push_back({&k,
                  {{out_step(), vk::Access::Read}, {buf("sampled"), vk::Access::Read}, {step(), vk::Access::ReadWrite}},
                  {},
                  {groups_for(o_.max_seqs, 64), 1, 1},
                  std::nullopt,
                  "feed sampled tokens"});
}

void StepEncoder::gather_last_rows() {
  const vk::Kernel& k = ctx_.kernels.get({"exec/gather_rows", 4, 4, {}, 0});
  const uint32_t width = uint32_t(c_.hc_mult * c_.dim);
  out_.push_back({&k,
                  {{out_step(), vk::Access::Read}, {buf("gather_index"), vk::Access::Read}, {buf(streams_), vk::Access::Read},
                   {buf("head_hc"), vk::Access::Write}},
                  {width},
                  {groups_for(width, 256), o_.max_seqs, 1},
                  std::nullopt,
                  "gather last rows"});
}

}  // namespace

std::unique_ptr<VulkanExecutor::Recorded> VulkanExecutor::record(uint32_t max_rows, bool decode) {
  StepEncoder enc(ctx_, *model_, buffers_, max_rows, decode, rope_slots_, options_);
  std::vector<vk::Dispatch> dispatches =
      enc.encode(graph::build_step(cfg(), decode ? graph::StepKind::Decode : graph::StepKind::Prefill));
  if (options_.reorder) dispatches = vk::order_by_levels(std::move(dispatches));
  auto r = std::make_unique<Recorded>();
  r->max_rows = max_rows;
  for (const vk::Dispatch& d : dispatches) r->labels.push_back(d.label);
  r->recording = std::make_unique<vk::Recording>(device_, std::move(dispatches),
                                                 vk::RecordingOptions{.timestamps = options_.timestamps});
  ++stats_.recordings;
  return r;
}

// Validates the rows (the one place a bad step is caught before it reaches a kernel) and writes
// the step descriptor, RoPE tables, the out-step descriptor (last row of each sequence) and the
// gather index into their host-visible buffers.
void VulkanExecutor::write_step(std::span<const StepRow> rows, bool keep_tokens) {
  const ModelConfig& c = cfg();
  if (rows.empty()) throw std::invalid_argument("a step needs at least one token");
  std::vector<StepRow> out;
  std::vector<int32_t> gather;
  for (size_t i = 0; i < rows.size(); ++i) {
    const StepRow& r = rows[i];
    if (r.seq < 0 || uint32_t(r.seq) >= options_.max_seqs)
      throw std::invalid_argument("sequence slot " + std::to_string(r.seq) + " outside [0, " + std::to_string(options_.max_seqs) + ")");
    if (r.pos < 0 || r.pos >= options_.max_context)
      throw std::invalid_argument("position " + std::to_string(r.pos) + " exceeds the context of " +
                                  std::to_string(options_.max_context) + " tokens (raise --ctx)");
    if (!keep_tokens && (r.token < 0 || r.token >= c.vocab_size))
      throw std::invalid_argument("token id " + std::to_string(r.token) + " is outside the vocabulary [0, " +
                                  std::to_string(c.vocab_size) + ")");
    const bool last = i + 1 == rows.size() || rows[i + 1].seq != r.seq;
    if (last) {
      out.push_back({r.token, r.pos, r.seq, int32_t(out.size())});
      gather.push_back(int32_t(i));
    }
  }
  if (out.size() > options_.max_seqs) throw std::invalid_argument("more sequences in one step than slots");
  const uint32_t R = rows.size() == out.size() && rows.size() <= options_.max_seqs ? options_.max_seqs : options_.prefill_chunk;
  if (rows.size() > R) throw std::invalid_argument("step of " + std::to_string(rows.size()) + " rows exceeds the prefill chunk");
  uint8_t* step = buffers_.at("step").mapped();
  if (keep_tokens) {  // the GPU sampler wrote each row's token: keep it, rewrite the rest
    std::vector<StepRow> merged(rows.begin(), rows.end());
    for (size_t i = 0; i < merged.size(); ++i)
      std::memcpy(&merged[i].token, step + sizeof(StepHeader) + i * sizeof(StepRow), 4);
    const std::vector<uint8_t> bytes = encode_step(merged, R, rope_slots_);
    std::memcpy(step, bytes.data(), bytes.size());
  } else {
    const std::vector<uint8_t> bytes = encode_step(rows, R, rope_slots_);
    std::memcpy(step, bytes.data(), bytes.size());
  }
  std::vector<float> rope(size_t(rope_buffer_bytes(rope_slots_, uint32_t(rows.size())) / 4));
  rope_slots_.fill(rows, rope);
  std::memcpy(buffers_.at("rope").mapped(), rope.data(), rope.size() * 4);
  const std::vector<uint8_t> ob = encode_step(out, options_.max_seqs, rope_slots_);
  std::memcpy(buffers_.at("out_step").mapped(), ob.data(), ob.size());
  std::memcpy(buffers_.at("gather_index").mapped(), gather.data(), gather.size() * 4);
  last_out_rows_ = uint32_t(out.size());
}

void VulkanExecutor::submit(std::span<const StepRow> rows, bool sample) {
  (void)sample;  // the sampler always runs; its pick is only read when asked for
  const bool decode = rows.size() <= options_.max_seqs && last_out_rows_ == rows.size();
  std::unique_ptr<Recorded>& r = decode ? decode_ : prefill_;
  if (!r) {
    r = record(decode ? options_.max_seqs : options_.prefill_chunk, decode);
    (decode ? stats_.decode_dispatches : stats_.prefill_dispatches) = r->recording->size();
    (decode ? stats_.decode_barriers : stats_.prefill_barriers) = r->recording->barrier_count();
  }
  r->recording->run();
  last_ = r.get();
  const uint32_t* status = reinterpret_cast<const uint32_t*>(buffers_.at("status").mapped());
  if (status[0] & kEmbedBadToken) {
    const uint32_t bad = status[1];
    std::memset(buffers_.at("status").mapped(), 0, kEmbedStatusBytes);
    throw std::invalid_argument("token id " + std::to_string(int32_t(bad)) + " is outside the vocabulary");
  }
  ++stats_.submissions;
  ++stats_.steps;
}

void VulkanExecutor::step(std::span<const StepRow> rows, bool sample) {
  write_step(rows, false);
  submit(rows, sample);
}

void VulkanExecutor::step_feedback(std::span<const StepRow> rows, bool sample) {
  write_step(rows, true);
  submit(rows, sample);
}

std::vector<float> VulkanExecutor::logits(uint32_t out_row) {
  if (out_row >= last_out_rows_) throw std::out_of_range("no logits row " + std::to_string(out_row) + " in the last step");
  const uint64_t v = uint64_t(cfg().vocab_size);
  std::vector<float> l(v);
  staging_->download(buffers_.at("logits"), out_row * v * 4, l.data(), v * 4);
  return l;
}

std::vector<int32_t> VulkanExecutor::sampled(uint32_t n) {
  std::vector<int32_t> ids(n);
  staging_->download(buffers_.at("sampled"), 0, ids.data(), n * 4ull);
  return ids;
}

void VulkanExecutor::set_sampling(uint32_t slot, const SlotSampling& s) {
  if (slot >= options_.max_seqs) throw std::out_of_range("sequence slot " + std::to_string(slot));
  graph::SamplingParams p;
  p.temperature = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  p.repetition_penalty = s.repetition_penalty;
  p.seed = s.seed;
  const graph::DeviceSamplingParams d = graph::pack_sampling_params(p);
  std::memcpy(buffers_.at("sampling_params").mapped() + slot * sizeof(d), &d, sizeof(d));
}

void VulkanExecutor::clear_slot(uint32_t slot) {
  if (slot >= options_.max_seqs) throw std::out_of_range("sequence slot " + std::to_string(slot));
  const uint64_t words = graph::presence_words(cfg().vocab_size);
  std::vector<uint32_t> zero(words, 0);
  staging_->upload(buffers_.at("presence"), slot * words * 4, zero.data(), words * 4);
}

std::vector<std::pair<std::string, double>> VulkanExecutor::last_profile() const {
  std::vector<std::pair<std::string, double>> p;
  if (!last_ || !last_->recording->has_timestamps()) return p;
  const std::vector<double> t = last_->recording->dispatch_times_ns();
  for (size_t i = 0; i < t.size() && i < last_->labels.size(); ++i) p.emplace_back(last_->labels[i], t[i]);
  return p;
}

// Activations (fp32 rows of the largest step), per-layer caches in native formats, the step
// descriptors. Names follow the op list's buffer names (graph/builder.cpp).
void VulkanExecutor::allocate_buffers() {
  const ModelConfig& c = cfg();
  // Small blocks: a buffer larger than a block gets its own allocation, so nothing is over-allocated.
  arena_ = std::make_unique<vk::Arena>(device_, vk::MemoryKind::DeviceLocal, 32ull << 20, "activations and caches");
  const uint64_t R = max_rows_, S = options_.max_seqs;
  auto act = [&](const std::string& name, uint64_t width, uint64_t rows) {
    buffers_.emplace(name, arena_->allocate(std::max<uint64_t>(16, rows * width * 4), name));
  };
  const int64_t hc = c.hc_mult, d = c.dim;
  act("hc", uint64_t(hc * d), R);
  act("hc_alt", uint64_t(hc * d), S);  // the decode step's streams alternate (ExecutorOptions::hc_fusion)
  for (const char* n : {"y", "x", "attn_out", "ffn_out"}) act(n, uint64_t(d), R);
  act("qr", uint64_t(c.q_lora_rank), R);
  act("qr_raw", uint64_t(c.q_lora_rank), R);
  act("kv_raw", uint64_t(c.head_dim), R);
  act("qkv_raw", uint64_t(c.q_lora_rank + c.head_dim), 1);  // one decode row: qr_raw | kv_raw (wq_a_wkv)
  act("q", uint64_t(c.n_heads * c.head_dim), R);
  act("o", uint64_t(c.n_heads * c.head_dim), R);
  act("kv", uint64_t(c.head_dim), R);
  act("z", uint64_t(c.o_groups * c.o_lora_rank), R);
  act("hc_post", uint64_t(hc), R);
  act("hc_comb", uint64_t(hc * hc), R);
  act("comp_kv", uint64_t(2 * c.head_dim), R);
  act("comp_score", uint64_t(2 * c.head_dim), R);
  act("comp_kvs", uint64_t(4 * std::max(c.head_dim, c.index_head_dim)), R);  // wkv | wgate of one GEMV
  act("comp_kvs_both", uint64_t(4 * (c.head_dim + c.index_head_dim)), 1);  // one decode row: both compressors' (ratio 4)
  act("index_q", uint64_t(std::max<int64_t>(1, c.index_n_heads * c.index_head_dim)), R);
  act("index_w", uint64_t(std::max<int64_t>(1, c.index_n_heads)), R);
  act("index_sel", uint64_t(std::max<int64_t>(1, c.index_topk)), R);
  act("route", uint64_t(2 * c.n_activated_experts), R);
  act("gate_logits", uint64_t(std::max<int64_t>(1, c.n_routed_experts)), R);
  act("gate_counters", 1, R);  // zeroed below
  act("hc_counters", 1, S);    // zeroed below
  act("q_heads_counters", uint64_t(std::max<int64_t>(1, c.n_heads)), S);        // zeroed below
  act("index_q_counters", uint64_t(std::max<int64_t>(1, c.index_n_heads)), S);  // zeroed below
  act("head_hc", uint64_t(hc * d), S);
  act("head_y", uint64_t(d), S);
  act("head_x", uint64_t(d), S);
  act("logits", uint64_t(c.vocab_size), S);
  act("sampled", 1, S);
  act("presence", uint64_t(graph::presence_words(c.vocab_size)), S);
  {  // one quantised-activation scratch shared by every act-quantised linear (the widest input):
     // the decode GEMV's, or the tiled coopmat GEMM's of a prefill chunk where the device has it
    const uint64_t cols = uint64_t(std::max({c.dim, c.q_lora_rank, c.o_groups * c.o_lora_rank}));
    DeviceMatrix widest;  // sizing only: both scratches depend on the input width and the rows
    widest.format = WeightFormat::FP8;
    widest.rows = 128;
    widest.cols = int64_t(cols);
    LinearArgs decode;  // decode batch; prefill GEMVs (Auto: <= 8 rows)
    decode.w = &widest;
    decode.max_rows = uint32_t(std::max<uint64_t>(S, std::min<uint64_t>(R, 8)));
    decode.path = LinearPath::Gemv;
    LinearArgs prefill = decode;
    prefill.max_rows = uint32_t(R);
    prefill.path = LinearPath::Auto;
    // wo_a: its groups are virtual rows of the tiled coopmat GEMM's fp16 input (no act_quant).
    DeviceMatrix wo_a = widest;
    wo_a.rows = c.o_groups * c.o_lora_rank;
    wo_a.cols = c.n_heads * c.head_dim / std::max<int64_t>(1, c.o_groups);
    LinearArgs wo_a_prefill = prefill;
    wo_a_prefill.w = &wo_a;
    wo_a_prefill.groups = c.o_groups;
    wo_a_prefill.act_quant = false;
    const uint64_t bytes = std::max({linear_scratch_bytes(ctx_, decode) + 256, linear_scratch_bytes(ctx_, prefill),
                                     linear_scratch_bytes(ctx_, wo_a_prefill)});
    buffers_.emplace("linear_scratch", arena_->allocate(bytes, "linear scratch"));
  }
  buffers_.emplace("hc_mix_scratch",
                   arena_->allocate(std::max<uint64_t>(16, hc_mix_scratch_bytes(uint32_t(d), uint32_t(hc), uint32_t(R))), "mhc mix partials"));
  buffers_.emplace("moe_scratch", arena_->allocate(moe_scratch_bytes(d, c.moe_inter_dim, c.n_activated_experts, uint32_t(R), moe_coopmat(ctx_)), "moe scratch"));
  buffers_.emplace("sample_scratch", arena_->allocate(std::max<uint64_t>(16, sample_scratch_bytes(uint32_t(c.vocab_size), uint32_t(S))), "sampler scratch"));
  uint64_t index_entries = 1;
  for (int64_t i = 0; i < c.n_layers; ++i)
    if (c.ratio(i) == 4) index_entries = std::max<uint64_t>(index_entries, uint64_t(options_.max_context / 4));
  buffers_.emplace("index_scores", arena_->allocate(std::max<uint64_t>(16, indexer_scores_bytes(uint32_t(R), int64_t(index_entries))), "index scores"));
  // Per-layer caches, [slot][entries][entry] in the native formats: exactly the buffers (names and
  // sizes) of the MemoryPlan that `dsv4 info --plan` prints. A context shorter than a ratio still
  // gets one entry per slot, so every binding has room for the entry layout the kernels assume.
  const graph::RunOptions run{options_.max_context, int64_t(S), int64_t(options_.prefill_chunk), false};
  for (const graph::BufferSpec& b : graph::plan_memory(c, WeightFormats{}, run).buffers) {
    uint64_t bytes = b.bytes;
    if (b.kind == graph::BufferKind::CompressedKv) bytes = std::max(bytes, S * graph::kv_entry_bytes(c));
    else if (b.kind == graph::BufferKind::IndexKeys) bytes = std::max(bytes, S * graph::index_entry_bytes(c));
    else if (b.kind != graph::BufferKind::WindowRing && b.kind != graph::BufferKind::CompressorState) continue;
    buffers_.emplace(b.name, arena_->allocate(std::max<uint64_t>(16, bytes), b.name));
  }
  // Host-written per-step buffers (host-visible, read by the kernels directly).
  auto host = [&](const std::string& name, uint64_t bytes) {
    buffers_.emplace(name, vk::Buffer::create(device_, std::max<uint64_t>(16, bytes), vk::MemoryKind::Upload, name));
  };
  host("step", step_buffer_bytes(uint32_t(R)));
  host("rope", rope_buffer_bytes(rope_slots_, uint32_t(R)));
  host("out_step", step_buffer_bytes(uint32_t(S)));
  host("gather_index", S * 4);
  host("sampling_params", S * sizeof(graph::DeviceSamplingParams));
  host("status", kEmbedStatusBytes);
  std::memset(buffers_.at("status").mapped(), 0, kEmbedStatusBytes);
  for (uint32_t s = 0; s < S; ++s) set_sampling(s, {});
  // Attention scratch: the larger of the two recorded shapes.
  uint64_t scratch = 16;
  for (uint32_t rows : {options_.max_seqs, options_.prefill_chunk}) {
    StepEncoder enc(ctx_, *model_, buffers_, rows, rows == options_.max_seqs, rope_slots_, options_);
    scratch = std::max(scratch, enc.attention_scratch_bytes());
  }
  buffers_.emplace("attn_scratch", arena_->allocate(scratch, "attention scratch"));
  // Presence bitmaps start empty; the router's and hc_post_pre's row counters at zero.
  for (const char* name : {"presence", "gate_counters", "hc_counters", "q_heads_counters", "index_q_counters"}) {
    std::vector<uint8_t> zero(size_t(buffers_.at(name).size()), 0);
    staging_->upload(buffers_.at(name), 0, zero.data(), zero.size());
  }
}


}  // namespace dsv4::gpu
