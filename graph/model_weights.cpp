#include "graph/model_weights.h"

#include <string>

#include "weights/error.h"
#include "weights/dequant.h"
#include "weights/safetensors.h"

namespace dsv4::graph {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class Loader {
 public:
  Loader(const Checkpoint& ckpt) : ckpt_(ckpt) {}

  // A plain tensor (BF16/F16/F32) as floats, checked against `shape`.
  std::vector<float> plain(const std::string& name, const std::vector<int64_t>& shape) const {
    const TensorInfo& t = ckpt_.at(name);
    expect_shape(t, shape);
    return decode_plain(t);
  }

  // A linear weight [rows, cols] in whatever format the file holds it (FP8 + .scale, packed FP4
  // + .scale, BF16, F32); the scale dtype is taken per tensor (E8M0 or F32, model-spec §2.6).
  Weight weight(const std::string& module, int64_t rows, int64_t cols) const {
    const std::string name = module + ".weight";
    const TensorInfo& t = ckpt_.at(name);
    Weight w;
    w.name = name;
    w.rows = rows;
    w.cols = cols;
    switch (t.dtype) {
      case DType::F8_E4M3: w.format = WeightFormat::FP8; break;
      case DType::I8: w.format = WeightFormat::FP4; break;
      case DType::BF16:
      case DType::F16: w.format = WeightFormat::BF16; break;
      case DType::F32: w.format = WeightFormat::F32; break;
      default: throw ModelError("tensor " + name + ": unsupported dtype " + dtype_name(t.dtype) + " for a linear weight");
    }
    const TensorView v = ckpt_.view(t);
    if (v.shape.size() != 2 || logical_rows(v) != rows || logical_cols(v) != cols) {
      throw ModelError("tensor " + name + ": shape " + shape_str(t.shape) + " does not match the config (logical [" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "])");
    }
    // checked_view: the file is unchanged and holds no NaN/Inf codes (the same checks, in the
    // same order, as the Vulkan loader's); re-checked after decoding in case it changed meanwhile.
    const bool quantised = w.format == WeightFormat::FP8 || w.format == WeightFormat::FP4;
    const TensorView values = ckpt_.checked_view(t);
    if (quantised) {
      const TensorInfo& s = ckpt_.at(module + ".scale");
      const TensorView scale = ckpt_.checked_view(s);
      w.values = dequant_all(values, &scale);
      ckpt_.check_unchanged(s);
    } else {
      w.values = dequant_all(values, nullptr);
    }
    ckpt_.check_unchanged(t);
    return w;
  }

  std::vector<int64_t> integers(const std::string& name, const std::vector<int64_t>& shape) const {
    const TensorInfo& t = ckpt_.at(name);
    expect_shape(t, shape);
    std::vector<int64_t> v = to_int64(ckpt_.checked_view(t));
    ckpt_.check_unchanged(t);
    return v;
  }

  bool has(const std::string& name) const { return ckpt_.find(name) != nullptr; }

 private:
  static void expect_shape(const TensorInfo& t, const std::vector<int64_t>& shape) {
    if (t.shape != shape) {
      throw ModelError("tensor " + t.name + ": shape " + shape_str(t.shape) + " does not match the config (" +
                       shape_str(shape) + ")");
    }
  }

  std::vector<float> decode_plain(const TensorInfo& t) const {
    if (t.dtype != DType::BF16 && t.dtype != DType::F16 && t.dtype != DType::F32) {
      throw ModelError("tensor " + t.name + ": expected BF16/F16/F32, found " + dtype_name(t.dtype));
    }
    std::vector<float> v = dequant_all(ckpt_.checked_view(t), nullptr);
    ckpt_.check_unchanged(t);
    return v;
  }

  const Checkpoint& ckpt_;
};

HcWeights load_hc(const Loader& l, const std::string& prefix, int64_t mix, int64_t width, int64_t scales) {
  return {l.plain(prefix + "_fn", {mix, width}), l.plain(prefix + "_base", {mix}),
          l.plain(prefix + "_scale", {scales})};
}

CompressorWeights load_compressor(const Loader& l, const ModelConfig& c, const std::string& p, int64_t ratio,
                                  int64_t d) {
  const int64_t coff = ratio == 4 ? 2 : 1;
  CompressorWeights w;
  w.wkv = l.weight(p + ".wkv", coff * d, c.dim);
  w.wgate = l.weight(p + ".wgate", coff * d, c.dim);
  w.ape = l.plain(p + ".ape", {ratio, coff * d});
  w.norm = l.plain(p + ".norm.weight", {d});
  return w;
}

AttentionWeights load_attention(const Loader& l, const ModelConfig& c, const std::string& p, int64_t layer) {
  AttentionWeights a;
  const int64_t hd = c.n_heads * c.head_dim;
  a.wq_a = l.weight(p + ".wq_a", c.q_lora_rank, c.dim);
  a.q_norm = l.plain(p + ".q_norm.weight", {c.q_lora_rank});
  a.wq_b = l.weight(p + ".wq_b", hd, c.q_lora_rank);
  a.wkv = l.weight(p + ".wkv", c.head_dim, c.dim);
  a.kv_norm = l.plain(p + ".kv_norm.weight", {c.head_dim});
  a.wo_a = l.weight(p + ".wo_a", c.o_groups * c.o_lora_rank, hd / c.o_groups);
  a.wo_b = l.weight(p + ".wo_b", c.dim, c.o_groups * c.o_lora_rank);
  a.attn_sink = l.plain(p + ".attn_sink", {c.n_heads});
  const int64_t ratio = c.ratio(layer);
  if (ratio > 0) {
    a.has_compressor = true;
    a.compressor = load_compressor(l, c, p + ".compressor", ratio, c.head_dim);
  }
  if (ratio == 4) {
    a.has_indexer = true;
    a.indexer.wq_b = l.weight(p + ".indexer.wq_b", c.index_n_heads * c.index_head_dim, c.q_lora_rank);
    a.indexer.weights_proj = l.weight(p + ".indexer.weights_proj", c.index_n_heads, c.dim);
    a.indexer.compressor = load_compressor(l, c, p + ".indexer.compressor", ratio, c.index_head_dim);
  }
  return a;
}

MoeWeights load_moe(const Loader& l, const ModelConfig& c, const std::string& p, int64_t layer) {
  MoeWeights m;
  m.gate = l.weight(p + ".gate", c.n_routed_experts, c.dim);
  if (c.is_hash_layer(layer)) {
    m.tid2eid = l.integers(p + ".gate.tid2eid", {c.vocab_size, c.n_activated_experts});
    for (int64_t e : m.tid2eid)
      if (e < 0 || e >= c.n_routed_experts)
        throw ModelError("tensor " + p + ".gate.tid2eid: expert id " + std::to_string(e) + " out of range");
  } else {
    m.bias = l.plain(p + ".gate.bias", {c.n_routed_experts});
  }
  auto expert = [&](const std::string& e) {
    return ExpertWeights{l.weight(e + ".w1", c.moe_inter_dim, c.dim), l.weight(e + ".w2", c.dim, c.moe_inter_dim),
                         l.weight(e + ".w3", c.moe_inter_dim, c.dim)};
  };
  for (int64_t e = 0; e < c.n_routed_experts; ++e) m.experts.push_back(expert(p + ".experts." + std::to_string(e)));
  m.shared = expert(p + ".shared_experts");
  return m;
}

BlockWeights load_block(const Loader& l, const ModelConfig& c, const std::string& p, int64_t layer) {
  BlockWeights b;
  b.attn_norm = l.plain(p + ".attn_norm.weight", {c.dim});
  b.ffn_norm = l.plain(p + ".ffn_norm.weight", {c.dim});
  b.hc_attn = load_hc(l, p + ".hc_attn", c.hc_mix_width(), c.hc_mult * c.dim, 3);
  b.hc_ffn = load_hc(l, p + ".hc_ffn", c.hc_mix_width(), c.hc_mult * c.dim, 3);
  b.attn = load_attention(l, c, p + ".attn", layer);
  b.ffn = load_moe(l, c, p + ".ffn", layer);
  return b;
}

}  // namespace

ModelWeights load_model_weights(const std::filesystem::path& dir, bool with_mtp) {
  ModelWeights m;
  m.cfg = load_model_config(dir);
  const ModelConfig& c = m.cfg;
  const Checkpoint ckpt = Checkpoint::open(dir);
  const Loader l(ckpt);
  m.embed = l.weight("embed", c.vocab_size, c.dim);
  m.head = l.weight("head", c.vocab_size, c.dim);
  m.norm = l.plain("norm.weight", {c.dim});
  m.hc_head = load_hc(l, "hc_head", c.hc_mult, c.hc_mult * c.dim, 1);
  for (int64_t i = 0; i < c.n_layers; ++i) m.layers.push_back(load_block(l, c, "layers." + std::to_string(i), i));
  if (with_mtp) {
    for (int64_t i = 0; i < c.n_mtp_layers; ++i) {
      const std::string p = "mtp." + std::to_string(i);
      MtpWeights t;
      t.block = load_block(l, c, p, c.n_layers + i);
      t.e_proj = l.weight(p + ".e_proj", c.dim, c.dim);
      t.h_proj = l.weight(p + ".h_proj", c.dim, c.dim);
      t.enorm = l.plain(p + ".enorm.weight", {c.dim});
      t.hnorm = l.plain(p + ".hnorm.weight", {c.dim});
      t.norm = l.plain(p + ".norm.weight", {c.dim});
      t.hc_head = load_hc(l, p + ".hc_head", c.hc_mult, c.hc_mult * c.dim, 1);
      m.mtp.push_back(std::move(t));
    }
  }
  return m;
}

}  // namespace dsv4::graph
