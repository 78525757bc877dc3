#include "graph/builder.h"

#include <string>

namespace dsv4::graph {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::Embed: return "embed";
    case OpKind::HcPre: return "hc_pre";
    case OpKind::RmsNorm: return "rms_norm";
    case OpKind::AttnQuery: return "attn_query";
    case OpKind::AttnKv: return "attn_kv";
    case OpKind::IndexerQuery: return "indexer_query";
    case OpKind::Compressor: return "compressor";
    case OpKind::IndexerTopk: return "indexer_topk";
    case OpKind::SparseAttention: return "sparse_attention";
    case OpKind::WindowWrite: return "window_write";
    case OpKind::AttnOutput: return "attn_output";
    case OpKind::HcPost: return "hc_post";
    case OpKind::Gate: return "gate";
    case OpKind::Moe: return "moe";
    case OpKind::MtpInput: return "mtp_input";
    case OpKind::HcHead: return "hc_head";
    case OpKind::Head: return "head";
  }
  return "?";
}

std::string OpList::describe() const {
  std::string out;
  for (const Op& op : ops) {
    out += std::string(op_kind_name(op.kind)) + " " + op.name + " (";
    for (size_t i = 0; i < op.reads.size(); ++i) out += (i ? ", " : "") + op.reads[i];
    out += ") -> (";
    for (size_t i = 0; i < op.writes.size(); ++i) out += (i ? ", " : "") + op.writes[i];
    out += ")\n";
  }
  return out;
}

namespace {

// Per-sequence caches of a block live in buffers named after it: "<block>.window" etc.
void add_block(OpList& l, const ModelConfig& cfg, const std::string& p, int64_t layer) {
  const std::string attn = p + ".attn";
  const int64_t ratio = cfg.ratio(layer);
  auto add = [&](OpKind k, const std::string& name, std::vector<std::string> r, std::vector<std::string> w) {
    l.ops.push_back(Op{k, name, layer, std::move(r), std::move(w)});
  };
  add(OpKind::HcPre, p + ".hc_attn", {"hc"}, {"y", "hc_post", "hc_comb"});
  add(OpKind::RmsNorm, p + ".attn_norm", {"y"}, {"x"});
  add(OpKind::AttnQuery, attn, {"x"}, {"qr", "q"});
  add(OpKind::AttnKv, attn, {"x"}, {"kv"});
  std::vector<std::string> attn_reads = {"q", "kv", p + ".window"};
  if (ratio == 4) {
    add(OpKind::IndexerQuery, attn + ".indexer", {"qr", "x"}, {"index_q", "index_w"});
    add(OpKind::Compressor, attn + ".indexer.compressor", {"x", p + ".index_state"},
        {p + ".index_keys", p + ".index_state"});
    add(OpKind::IndexerTopk, attn + ".indexer", {"index_q", "index_w", p + ".index_keys"}, {"index_sel"});
    attn_reads.push_back("index_sel");
  }
  if (ratio > 0) {
    add(OpKind::Compressor, attn + ".compressor", {"x", p + ".compressor_state"},
        {p + ".compressed", p + ".compressor_state"});
    attn_reads.push_back(p + ".compressed");
  }
  add(OpKind::SparseAttention, attn, attn_reads, {"o"});
  add(OpKind::WindowWrite, attn, {"kv"}, {p + ".window"});  // after attention: a chunk > window
  add(OpKind::AttnOutput, attn, {"o"}, {"attn_out"});
  add(OpKind::HcPost, p + ".hc_attn", {"attn_out", "hc", "hc_post", "hc_comb"}, {"hc"});
  add(OpKind::HcPre, p + ".hc_ffn", {"hc"}, {"y", "hc_post", "hc_comb"});
  add(OpKind::RmsNorm, p + ".ffn_norm", {"y"}, {"x"});
  add(OpKind::Gate, p + ".ffn.gate", {"x"}, {"route"});
  add(OpKind::Moe, p + ".ffn", {"x", "route"}, {"ffn_out"});
  add(OpKind::HcPost, p + ".hc_ffn", {"ffn_out", "hc", "hc_post", "hc_comb"}, {"hc"});
}

}  // namespace

OpList build_step(const ModelConfig& cfg, StepKind) {
  // Decode and prefill share one list: every op handles n >= 1 tokens (StepParams).
  OpList l;
  l.ops.push_back(Op{OpKind::Embed, "embed", -1, {}, {"hc"}});
  for (int64_t i = 0; i < cfg.n_layers; ++i) add_block(l, cfg, "layers." + std::to_string(i), i);
  l.ops.push_back(Op{OpKind::HcHead, "hc_head", -1, {"hc"}, {"head_y"}});
  l.ops.push_back(Op{OpKind::RmsNorm, "norm", -1, {"head_y"}, {"head_x"}});
  l.ops.push_back(Op{OpKind::Head, "head", -1, {"head_x"}, {"logits"}});
  return l;
}

OpList build_mtp_step(const ModelConfig& cfg, int64_t mtp_index) {
  const std::string p = "mtp." + std::to_string(mtp_index);
  const int64_t layer = cfg.n_layers + mtp_index;
  OpList l;
  l.ops.push_back(Op{OpKind::MtpInput, p, layer, {"mtp_hidden"}, {"hc"}});
  add_block(l, cfg, p, layer);
  l.ops.push_back(Op{OpKind::HcHead, p + ".hc_head", layer, {"hc"}, {"head_y"}});
  l.ops.push_back(Op{OpKind::RmsNorm, p + ".norm", layer, {"head_y"}, {"head_x"}});
  l.ops.push_back(Op{OpKind::Head, "head", layer, {"head_x"}, {"logits"}});
  return l;
}

}  // namespace dsv4::graph
