#include "weights/inventory.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "weights/error.h"

namespace dsv4 {

namespace {

using Shape = std::vector<int64_t>;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Appends the tensors of one module with the dtypes of `f`; `accept_any_scale` widens every FP8
// scale to {E8M0, F32} for checking.
class Builder {
 public:
  Builder(const WeightFormats& f, bool accept_any_scale) : f_(f), any_scale_(accept_any_scale) {}

  void plain(const std::string& name, DType t, Shape shape) {
    out_.push_back({name, {t}, std::move(shape), block_, -1, false});
  }
  // An FP8 linear [out, in] with its 128x128 block scale (model-spec §2.3).
  void fp8(const std::string& module, int64_t out, int64_t in, int64_t expert = -1) {
    out_.push_back({module + ".weight", {DType::F8_E4M3}, {out, in}, block_, expert, false});
    out_.push_back({module + ".scale", scale_dtypes(), {ceil_div(out, 128), ceil_div(in, 128)}, block_, expert, true});
  }
  // A routed expert's linear [out, in]: MXFP4 (I8 [out, in/2] + E8M0 [out, in/32]) or FP8.
  void expert(const std::string& module, int64_t out, int64_t in, int64_t e) {
    if (f_.experts == ExpertDtype::FP8) return fp8(module, out, in, e);
    out_.push_back({module + ".weight", {DType::I8}, {out, in / 2}, block_, e, false});
    out_.push_back({module + ".scale", {DType::F8_E8M0}, {out, in / 32}, block_, e, true});
  }
  void set_block(int64_t b) { block_ = b; }
  std::vector<ExpectedTensor> take() { return std::move(out_); }

 private:
  std::vector<DType> scale_dtypes() const {
    if (any_scale_) return f_.fp8_scale == DType::F32 ? std::vector{DType::F32, DType::F8_E8M0}
                                                      : std::vector{DType::F8_E8M0, DType::F32};
    return {f_.fp8_scale};
  }
  WeightFormats f_;
  bool any_scale_;
  int64_t block_ = -1;
  std::vector<ExpectedTensor> out_;
};

void add_hc(Builder& b, const ModelConfig& c, const std::string& p, const char* which, int64_t mix) {
  const std::string base = p + "hc_" + which + "_";
  b.plain(base + "fn", DType::F32, {mix, c.hc_mult * c.dim});
  b.plain(base + "base", DType::F32, {mix});
  b.plain(base + "scale", DType::F32, {which == std::string("head") ? 1 : 3});
}

void add_compressor(Builder& b, const ModelConfig& c, const std::string& p, int64_t ratio, int64_t d) {
  const int64_t coff = ratio == 4 ? 2 : 1;
  b.plain(p + "wkv.weight", DType::BF16, {coff * d, c.dim});
  b.plain(p + "wgate.weight", DType::BF16, {coff * d, c.dim});
  b.plain(p + "ape", DType::F32, {ratio, coff * d});
  b.plain(p + "norm.weight", DType::BF16, {d});
}

void add_attention(Builder& b, const ModelConfig& c, const std::string& p, int64_t layer) {
  const int64_t Dh = c.head_dim, H = c.n_heads, Q = c.q_lora_rank, G = c.o_groups;
  b.plain(p + "attn.q_norm.weight", DType::BF16, {Q});
  b.plain(p + "attn.kv_norm.weight", DType::BF16, {Dh});
  b.plain(p + "attn.attn_sink", DType::F32, {H});
  b.fp8(p + "attn.wq_a", Q, c.dim);
  b.fp8(p + "attn.wq_b", H * Dh, Q);
  b.fp8(p + "attn.wkv", Dh, c.dim);
  b.fp8(p + "attn.wo_a", G * c.o_lora_rank, H * Dh / G);
  b.fp8(p + "attn.wo_b", c.dim, G * c.o_lora_rank);
  const int64_t r = c.ratio(layer);
  if (r == 0) return;
  add_compressor(b, c, p + "attn.compressor.", r, Dh);
  if (r != 4) return;
  b.fp8(p + "attn.indexer.wq_b", c.index_n_heads * c.index_head_dim, Q);
  b.plain(p + "attn.indexer.weights_proj.weight", DType::BF16, {c.index_n_heads, c.dim});
  add_compressor(b, c, p + "attn.indexer.compressor.", 4, c.index_head_dim);
}

void add_moe(Builder& b, const ModelConfig& c, const std::string& p, int64_t layer) {
  const int64_t E = c.n_routed_experts, F = c.moe_inter_dim, D = c.dim;
  b.plain(p + "ffn.gate.weight", DType::BF16, {E, D});
  if (c.is_hash_layer(layer)) b.plain(p + "ffn.gate.tid2eid", DType::I64, {c.vocab_size, c.n_activated_experts});
  else b.plain(p + "ffn.gate.bias", DType::F32, {E});
  b.fp8(p + "ffn.shared_experts.w1", F, D);
  b.fp8(p + "ffn.shared_experts.w3", F, D);
  b.fp8(p + "ffn.shared_experts.w2", D, F);
  for (int64_t e = 0; e < E; ++e) {
    const std::string x = p + "ffn.experts." + std::to_string(e) + ".";
    b.expert(x + "w1", F, D, e);
    b.expert(x + "w3", F, D, e);
    b.expert(x + "w2", D, F, e);
  }
}

void add_block(Builder& b, const ModelConfig& c, const std::string& p, int64_t layer) {
  b.set_block(layer);
  b.plain(p + "attn_norm.weight", DType::BF16, {c.dim});
  b.plain(p + "ffn_norm.weight", DType::BF16, {c.dim});
  add_hc(b, c, p, "attn", c.hc_mix_width());
  add_hc(b, c, p, "ffn", c.hc_mix_width());
  add_attention(b, c, p, layer);
  add_moe(b, c, p, layer);
}

void add_mtp_extras(Builder& b, const ModelConfig& c, const std::string& p) {
  b.fp8(p + "e_proj", c.dim, c.dim);
  b.fp8(p + "h_proj", c.dim, c.dim);
  b.plain(p + "enorm.weight", DType::BF16, {c.dim});
  b.plain(p + "hnorm.weight", DType::BF16, {c.dim});
  b.plain(p + "norm.weight", DType::BF16, {c.dim});
  add_hc(b, c, p, "head", c.hc_mult);
}

std::vector<ExpectedTensor> build(const ModelConfig& c, const WeightFormats& f, bool accept_any_scale) {
  Builder b(f, accept_any_scale);
  b.plain("embed.weight", DType::BF16, {c.vocab_size, c.dim});
  b.plain("head.weight", DType::BF16, {c.vocab_size, c.dim});
  b.plain("norm.weight", DType::BF16, {c.dim});
  add_hc(b, c, "", "head", c.hc_mult);
  for (int64_t i = 0; i < c.n_layers; ++i) add_block(b, c, "layers." + std::to_string(i) + ".", i);
  for (int64_t k = 0; k < c.n_mtp_layers; ++k) {
    const std::string p = "mtp." + std::to_string(k) + ".";
    add_block(b, c, p, c.n_layers + k);
    add_mtp_extras(b, c, p);
  }
  return b.take();
}

std::string dtype_list(const std::vector<DType>& ts) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i) s += "|";
    s += dtype_name(ts[i]);
  }
  return s;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

// tid2eid routes tokens to experts by index: an id outside [0, E) would read past the expert table.
void check_tid2eid(const ModelConfig& c, const Checkpoint& ckpt, const TensorInfo& t,
                   std::vector<InventoryMismatch>& out) {
  const auto bytes = ckpt.data(t);
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    int64_t v;
    std::memcpy(&v, bytes.data() + i, 8);
    if (v < 0 || v >= c.n_routed_experts) {
      out.push_back({t.name, "expert ids in [0, " + std::to_string(c.n_routed_experts) + ")",
                     "id " + std::to_string(v) + " at entry " + std::to_string(i / 8), t.file.string()});
      return;
    }
  }
}

}  // namespace

std::string describe(DType t, const std::vector<int64_t>& shape) { return std::string(dtype_name(t)) + " " + shape_str(shape); }

std::string InventoryMismatch::to_string() const {
  return name + " (expected " + expected + ", found " + found + (file.empty() ? "" : " in " + file) + ")";
}

std::vector<ExpectedTensor> model_inventory(const ModelConfig& c, const WeightFormats& f) { return build(c, f, false); }

ExpertDtype infer_expert_dtype(const ModelConfig& c, const Checkpoint& ckpt) {
  if (c.expert_dtype_explicit) return c.expert_dtype;
  for (const char* p : {"layers.0.", "mtp.0."}) {
    const TensorInfo* t = ckpt.find(std::string(p) + "ffn.experts.0.w1.weight");
    if (t) return t->dtype == DType::F8_E4M3 ? ExpertDtype::FP8 : ExpertDtype::FP4;
  }
  return ExpertDtype::FP4;
}

std::vector<ExpectedTensor> accepted_inventory(const ModelConfig& c, const Checkpoint& ckpt) {
  WeightFormats f;
  f.experts = infer_expert_dtype(c, ckpt);
  return build(c, f, true);
}

std::vector<InventoryMismatch> check_inventory(const ModelConfig& c, const Checkpoint& ckpt) {
  std::vector<InventoryMismatch> out;
  std::set<std::string_view> expected_names;
  const auto inv = accepted_inventory(c, ckpt);
  for (const auto& e : inv) {
    expected_names.insert(e.name);
    const TensorInfo* t = ckpt.find(e.name);
    const std::string want = dtype_list(e.dtypes) + " " + shape_str(e.shape);
    if (!t) {
      out.push_back({e.name, want, "(missing)", ""});
      continue;
    }
    const bool dtype_ok = std::find(e.dtypes.begin(), e.dtypes.end(), t->dtype) != e.dtypes.end();
    if (!dtype_ok || t->shape != e.shape) {
      out.push_back({e.name, want, describe(t->dtype, t->shape), t->file.string()});
      continue;
    }
    if (t->dtype == DType::I64 && e.name.ends_with(".tid2eid")) check_tid2eid(c, ckpt, *t, out);
  }
  for (const auto& t : ckpt.tensors())
    if (!expected_names.count(t.name))
      out.push_back({t.name, "(absent: not a tensor of this config)", describe(t.dtype, t.shape), t.file.string()});
  return out;
}

void require_inventory(const ModelConfig& c, const Checkpoint& ckpt) {
  const auto m = check_inventory(c, ckpt);
  if (m.empty()) return;
  const std::string where = ckpt.files().empty() ? c.source : ckpt.files().front().parent_path().string();
  std::string msg = std::to_string(m.size()) + " tensor mismatch" + (m.size() == 1 ? "" : "es") +
                    " between " + c.source + " and the checkpoint in " + where + ": ";
  // All of them, on one line; a wholly wrong checkpoint is cut at 200 with a count of the rest.
  for (size_t i = 0; i < m.size() && i < 200; ++i) {
    if (i) msg += "; ";
    msg += m[i].to_string();
  }
  if (m.size() > 200) msg += "; ... and " + std::to_string(m.size() - 200) + " more";
  throw ModelError(msg);
}

}  // namespace dsv4
