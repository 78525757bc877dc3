#include "graph/cpu_executor.h"

#include <cmath>
#include <stdexcept>

#include "graph/attention.h"
#include "graph/compressor.h"
#include "graph/indexer.h"
#include "graph/linear.h"
#include "graph/norms.h"
#include "graph/parallel.h"
#include "graph/quant.h"
#include "weights/formats.h"

namespace dsv4::graph {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::span<float> row(std::vector<float>& b, int64_t i, int64_t width) { return {b.data() + i * width, size_t(width)}; }
std::span<const float> row(const std::vector<float>& b, int64_t i, int64_t width) {
  return {b.data() + i * width, size_t(width)};
}

HcParams params(const HcWeights& w) { return {w.fn, w.base, w.scale}; }

}  // namespace

std::vector<float>& Workspace::buffer(const std::string& name, size_t size) {
  std::vector<float>& b = buffers[name];
  b.assign(size, 0.f);
  return b;
}

const std::vector<float>& Workspace::at(const std::string& name) const {
  const auto it = buffers.find(name);
  if (it == buffers.end()) throw std::logic_error("op list reads buffer '" + name + "' before it is written");
  return it->second;
}

CpuExecutor::CpuExecutor(std::shared_ptr<const ModelWeights> weights) : weights_(std::move(weights)) {
  const ModelConfig& c = weights_->cfg;
  for (int64_t i = 0; i < c.n_layers + c.n_mtp_layers; ++i) rope_.push_back(rope_table_for_layer(c, i));
}

const BlockWeights& CpuExecutor::block(int64_t layer) const {
  const ModelWeights& w = *weights_;
  if (layer < int64_t(w.layers.size())) return w.layers[size_t(layer)];
  const int64_t m = layer - w.cfg.n_layers;
  if (m < 0 || m >= int64_t(w.mtp.size())) throw std::logic_error("block " + std::to_string(layer) + " has no weights loaded");
  return w.mtp[size_t(m)].block;
}

std::vector<float> CpuExecutor::run(const OpList& ops, const StepParams& step, SequenceState& state,
                                    Workspace& ws) const {
  if (step.tokens.empty()) throw std::invalid_argument("a step needs at least one token");
  if (step.start_pos != state.position) throw std::logic_error("step start does not match the sequence position");
  ws.n = int64_t(step.tokens.size());
  for (const Op& op : ops.ops) run_op(op, step, state, ws);
  return ws.at("logits");
}

void CpuExecutor::run_op(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const {
  switch (op.kind) {
    case OpKind::Embed: return embed(step, ws);
    case OpKind::HcPre: return hc_pre(op, ws);
    case OpKind::RmsNorm: return rms_norm_op(op, ws);
    case OpKind::AttnQuery: return attn_query(op, step, ws);
    case OpKind::AttnKv: return attn_kv(op, step, ws);
    case OpKind::IndexerQuery: return indexer_query(op, step, ws);
    case OpKind::Compressor: return compressor(op, step, state, ws);
    case OpKind::IndexerTopk: return indexer_topk(op, step, state, ws);
    case OpKind::SparseAttention: return sparse_attention(op, step, state, ws);
    case OpKind::WindowWrite: return window_write(op, step, state, ws);
    case OpKind::AttnOutput: return attn_output(op, step, ws);
    case OpKind::HcPost: return hc_post(op, ws);
    case OpKind::Gate: return gate(op, step, ws);
    case OpKind::Moe: return moe(op, ws);
    case OpKind::MtpInput: return mtp_input(op, step, ws);
    case OpKind::HcHead: return hc_head(op, ws);
    case OpKind::Head: return head(op, ws);
  }
}

// §3.1: h = embed[ids], repeated into hc_mult identical bf16 streams.
void CpuExecutor::embed(const StepParams& step, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const int64_t d = c.dim, n = ws.n, hc = c.hc_mult;
  auto& out = ws.buffer("hc", size_t(n * hc * d));
  for (int64_t t = 0; t < n; ++t) {
    const int64_t id = step.tokens[size_t(t)];
    if (id < 0 || id >= c.vocab_size) throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary");
    const auto e = weights_->embed.row(id);
    for (int64_t s = 0; s < hc; ++s) std::copy(e.begin(), e.end(), out.begin() + (t * hc + s) * d);
  }
}

// §3.3 hc_pre for every token of the chunk; post/comb kept for the matching hc_post.
void CpuExecutor::hc_pre(const Op& op, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const BlockWeights& b = block(op.layer);
  const HcWeights& hw = ends_with(op.name, ".hc_ffn") ? b.hc_ffn : b.hc_attn;
  const int64_t d = c.dim, n = ws.n, hc = c.hc_mult;
  const auto& streams = ws.at(op.reads[0]);
  auto& y = ws.buffer(op.writes[0], size_t(n * d));
  ws.mixes.resize(size_t(n));
  for (int64_t t = 0; t < n; ++t) {
    ws.mixes[size_t(t)] = graph::hc_pre(row(streams, t, hc * d), params(hw), hc, c.hc_sinkhorn_iters, c.hc_eps,
                                        c.norm_eps, row(y, t, d));
  }
}

void CpuExecutor::hc_post(const Op& op, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const int64_t d = c.dim, hc = c.hc_mult;
  const auto& f = ws.at(op.reads[0]);
  auto& streams = ws.buffers.at(op.writes[0]);
  for (int64_t t = 0; t < ws.n; ++t) graph::hc_post(row(f, t, d), ws.mixes[size_t(t)], hc, row(streams, t, hc * d));
}

void CpuExecutor::rms_norm_op(const Op& op, Workspace& ws) const {
  const ModelWeights& w = *weights_;
  const int64_t d = w.cfg.dim;
  const std::vector<float>* weight = nullptr;
  if (ends_with(op.name, ".attn_norm")) weight = &block(op.layer).attn_norm;
  else if (ends_with(op.name, ".ffn_norm")) weight = &block(op.layer).ffn_norm;
  else if (op.name == "norm") weight = &w.norm;
  else if (op.layer >= w.cfg.n_layers) weight = &w.mtp.at(size_t(op.layer - w.cfg.n_layers)).norm;
  else throw std::logic_error("rms_norm: unknown module " + op.name);
  const auto& in = ws.at(op.reads[0]);
  auto& out = ws.buffer(op.writes[0], in.size());
  for (int64_t t = 0; t < int64_t(in.size()) / d; ++t) rms_norm(row(in, t, d), *weight, w.cfg.norm_eps, row(out, t, d));
}

// §3.5.1: qr = q_norm(wq_a(x)); q = wq_b(qr); per-head RMS (bf16 arithmetic); RoPE at t.
void CpuExecutor::attn_query(const Op& op, const StepParams& step, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const AttentionWeights& a = block(op.layer).attn;
  const int64_t n = ws.n, d = c.dim, qd = c.q_lora_rank, hd = c.head_dim;
  const auto& x = ws.at(op.reads[0]);
  auto& qr = ws.buffer(op.writes[0], size_t(n * qd));
  auto& q = ws.buffer(op.writes[1], size_t(n * c.n_heads * hd));
  std::vector<float> tmp(static_cast<size_t>(qd));
  for (int64_t t = 0; t < n; ++t) {
    linear(a.wq_a, row(x, t, d), tmp);
    rms_norm(tmp, a.q_norm, c.norm_eps, row(qr, t, qd));
    linear(a.wq_b, row(qr, t, qd), row(q, t, c.n_heads * hd));
    for (int64_t h = 0; h < c.n_heads; ++h) {
      std::span<float> head(q.data() + (t * c.n_heads + h) * hd, size_t(hd));
      head_rms_norm_bf16(head, c.norm_eps);
      apply_rope(rope_[size_t(op.layer)], head, step.start_pos + t);
    }
  }
}

// §3.5.2: kv = kv_norm(wkv(x)); RoPE at t; FP8 round-trip of the nope dims in blocks of 64.
void CpuExecutor::attn_kv(const Op& op, const StepParams& step, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const AttentionWeights& a = block(op.layer).attn;
  const int64_t n = ws.n, d = c.dim, hd = c.head_dim;
  const auto& x = ws.at(op.reads[0]);
  auto& kv = ws.buffer(op.writes[0], size_t(n * hd));
  std::vector<float> tmp(static_cast<size_t>(hd));
  for (int64_t t = 0; t < n; ++t) {
    auto out = row(kv, t, hd);
    linear(a.wkv, row(x, t, d), tmp);
    rms_norm(tmp, a.kv_norm, c.norm_eps, out);
    apply_rope(rope_[size_t(op.layer)], out, step.start_pos + t);
    fp8_roundtrip(out.first(size_t(c.nope_head_dim())), 64);
  }
}

// §3.5.5 steps 1 and 3: index queries from qr (RoPE, Hadamard, FP4) and head weights from x.
void CpuExecutor::indexer_query(const Op& op, const StepParams& step, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const IndexerWeights& ix = block(op.layer).attn.indexer;
  const int64_t n = ws.n, hi = c.index_n_heads, di = c.index_head_dim;
  const auto& qr = ws.at(op.reads[0]);
  const auto& x = ws.at(op.reads[1]);
  auto& q = ws.buffer(op.writes[0], size_t(n * hi * di));
  auto& w = ws.buffer(op.writes[1], size_t(n * hi));
  // softmax_scale * n_heads^-0.5, a Python float product applied to a bf16 tensor.
  const float scale = float(std::pow(double(di), -0.5) * std::pow(double(hi), -0.5));
  for (int64_t t = 0; t < n; ++t) {
    linear(ix.wq_b, row(qr, t, c.q_lora_rank), row(q, t, hi * di));
    for (int64_t h = 0; h < hi; ++h) {
      std::span<float> head(q.data() + (t * hi + h) * di, size_t(di));
      apply_rope(rope_[size_t(op.layer)], head, step.start_pos + t);
      hadamard_rotate(head);
      fp4_roundtrip(head, 32);
    }
    auto wt = row(w, t, hi);
    linear(ix.weights_proj, row(x, t, c.dim), wt);
    for (float& v : wt) v = formats::round_bf16(v * scale);
  }
}

// §3.5.4: advance the compressor token by token; emitted entries are post-processed and appended.
void CpuExecutor::compressor(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const AttentionWeights& a = block(op.layer).attn;
  const bool index = ends_with(op.name, ".indexer.compressor");
  const CompressorWeights& cw = index ? a.indexer.compressor : a.compressor;
  BlockCache& cache = state.blocks[size_t(op.layer)];
  CompressorState& s = index ? cache.index_compressor : cache.compressor;
  std::vector<float>& out = index ? cache.index_keys : cache.compressed;
  const auto& x = ws.at(op.reads[0]);
  const int64_t width = s.coff * s.d;
  std::vector<float> kv(static_cast<size_t>(width)), score(static_cast<size_t>(width)), entry(static_cast<size_t>(s.d));
  for (int64_t t = 0; t < ws.n; ++t) {
    const int64_t pos = step.start_pos + t;
    linear_fp32(cw.wkv, row(x, t, c.dim), kv);  // fp32 math on the bf16 x and weights
    linear_fp32(cw.wgate, row(x, t, c.dim), score);
    if (!compressor_push(s, pos, kv, score, cw.ape, entry)) continue;
    const int64_t entry_index = pos / s.ratio;
    if (int64_t(out.size()) != entry_index * s.d) throw std::logic_error(op.name + ": compressed cache out of step");
    if (index) finish_index_entry(entry, cw.norm, c.norm_eps, rope_[size_t(op.layer)], entry_index * s.ratio);
    else finish_kv_entry(entry, cw.norm, c.norm_eps, rope_[size_t(op.layer)], entry_index * s.ratio);
    out.insert(out.end(), entry.begin(), entry.end());
  }
}

// §3.5.5 steps 4-6: bf16 index scores over the visible entries, top-min(TK, visible).
void CpuExecutor::indexer_topk(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const int64_t hi = c.index_n_heads, di = c.index_head_dim;
  const auto& q = ws.at(op.reads[0]);
  const auto& w = ws.at(op.reads[1]);
  const std::vector<float>& keys = state.blocks[size_t(op.layer)].index_keys;
  ws.index_sel.assign(size_t(ws.n), {});
  for (int64_t t = 0; t < ws.n; ++t) {
    const int64_t visible = visible_compressed(step.start_pos + t, c.ratio(op.layer));
    const std::vector<float> scores = index_scores(row(q, t, hi * di), row(w, t, hi), keys, di, visible);
    ws.index_sel[size_t(t)] = topk_indices(scores, std::min(c.index_topk, visible));
  }
}

// §3.5.8: each query attends over its window (ring for positions before the chunk, the chunk's
// own kv otherwise) and its compressed entries (all visible, or the indexer's selection).
void CpuExecutor::sparse_attention(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const AttentionWeights& a = block(op.layer).attn;
  const BlockCache& cache = state.blocks[size_t(op.layer)];
  const int64_t hd = c.head_dim, nh = c.n_heads, win = c.window_size, ratio = c.ratio(op.layer);
  const auto& q = ws.at(op.reads[0]);
  const auto& kv = ws.at(op.reads[1]);
  auto& o = ws.buffer(op.writes[0], size_t(ws.n * nh * hd));
  const float scale = float(1.0 / std::sqrt(double(hd)));
  for (int64_t t = 0; t < ws.n; ++t) {
    const int64_t pos = step.start_pos + t;
    std::vector<const float*> keys;
    for (int64_t p = window_start(pos, win); p <= pos; ++p) {
      keys.push_back(p < step.start_pos ? cache.window.data() + (p % win) * hd : kv.data() + (p - step.start_pos) * hd);
    }
    if (ratio == 4) {
      for (int64_t e : ws.index_sel[size_t(t)]) keys.push_back(cache.compressed.data() + e * hd);
    } else if (ratio > 0) {
      for (int64_t e = 0; e < visible_compressed(pos, ratio); ++e) keys.push_back(cache.compressed.data() + e * hd);
    }
    parallel_for(nh, nh * int64_t(keys.size()) * hd * 2, [&](int64_t h) {
      sparse_attention_head(row(q, t * nh + h, hd), keys, scale, a.attn_sink[size_t(h)], row(o, t * nh + h, hd));
    });
  }
}

// §3.5.3: the last <= window tokens of the chunk go to ring slots p % window.
void CpuExecutor::window_write(const Op& op, const StepParams& step, SequenceState& state, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const int64_t hd = c.head_dim, win = c.window_size;
  const auto& kv = ws.at(op.reads[0]);
  BlockCache& cache = state.blocks[size_t(op.layer)];
  for (int64_t t = std::max<int64_t>(0, ws.n - win); t < ws.n; ++t) {
    const int64_t pos = step.start_pos + t;
    const auto src = row(kv, t, hd);
    std::copy(src.begin(), src.end(), cache.window.begin() + (pos % win) * hd);
  }
}

// §3.5.9-3.5.10: inverse RoPE at the query position, the grouped bf16 wo_a einsum, wo_b.
void CpuExecutor::attn_output(const Op& op, const StepParams& step, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const AttentionWeights& a = block(op.layer).attn;
  const int64_t hd = c.head_dim, nh = c.n_heads, g = c.o_groups, ro = c.o_lora_rank;
  const int64_t group_width = nh * hd / g;
  auto& o = ws.buffers.at(op.reads[0]);
  auto& out = ws.buffer(op.writes[0], size_t(ws.n * c.dim));
  std::vector<float> z(static_cast<size_t>(g * ro));
  for (int64_t t = 0; t < ws.n; ++t) {
    for (int64_t h = 0; h < nh; ++h) apply_rope(rope_[size_t(op.layer)], row(o, t * nh + h, hd), step.start_pos + t, true);
    for (int64_t gi = 0; gi < g; ++gi) {
      const auto og = row(o, t * g + gi, group_width);
      parallel_for(ro, ro * group_width, [&](int64_t r) {
        const auto w = a.wo_a.row(gi * ro + r);
        float acc = 0.f;
        for (int64_t i = 0; i < group_width; ++i) acc += og[size_t(i)] * w[size_t(i)];
        z[size_t(gi * ro + r)] = formats::round_bf16(acc);
      });
    }
    linear(a.wo_b, z, row(out, t, c.dim));
  }
}

// §3.6 Gate: per token routing (hash layers by tid2eid).
void CpuExecutor::gate(const Op& op, const StepParams& step, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const auto& x = ws.at(op.reads[0]);
  ws.routes.resize(size_t(ws.n));
  const bool hash = op.layer < c.n_layers && c.is_hash_layer(op.layer);
  for (int64_t t = 0; t < ws.n; ++t) {
    ws.routes[size_t(t)] = route(block(op.layer).ffn, c, hash, row(x, t, c.dim), step.tokens[size_t(t)]);
  }
}

void CpuExecutor::moe(const Op& op, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const auto& x = ws.at(op.reads[0]);
  auto& out = ws.buffer(op.writes[0], size_t(ws.n * c.dim));
  for (int64_t t = 0; t < ws.n; ++t) {
    moe_forward(block(op.layer).ffn, c, ws.routes[size_t(t)], row(x, t, c.dim), row(out, t, c.dim));
  }
}

// §3.8: X_s = bf16(e_proj(enorm(embed[id])) + h_proj(hnorm(X_L,s))) for each stream s.
void CpuExecutor::mtp_input(const Op& op, const StepParams& step, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const MtpWeights& m = weights_->mtp.at(size_t(op.layer - c.n_layers));
  const int64_t d = c.dim, hc = c.hc_mult;
  const auto& hidden = ws.at(op.reads[0]);
  if (int64_t(hidden.size()) != ws.n * hc * d) throw std::invalid_argument("mtp: hidden state rows != tokens");
  auto& out = ws.buffer(op.writes[0], size_t(ws.n * hc * d));
  std::vector<float> e(static_cast<size_t>(d)), pe(static_cast<size_t>(d)), h(static_cast<size_t>(d)), ph(static_cast<size_t>(d));
  for (int64_t t = 0; t < ws.n; ++t) {
    rms_norm(weights_->embed.row(step.tokens[size_t(t)]), m.enorm, c.norm_eps, e);
    linear(m.e_proj, e, pe);
    for (int64_t s = 0; s < hc; ++s) {
      rms_norm(row(hidden, t * hc + s, d), m.hnorm, c.norm_eps, h);
      linear(m.h_proj, h, ph);
      auto dst = row(out, t * hc + s, d);
      for (int64_t i = 0; i < d; ++i) dst[size_t(i)] = formats::round_bf16(pe[size_t(i)] + ph[size_t(i)]);
    }
  }
}

// §3.7: only the chunk's last position reaches the head.
void CpuExecutor::hc_head(const Op& op, Workspace& ws) const {
  const ModelConfig& c = weights_->cfg;
  const HcWeights& hw = op.layer < 0 ? weights_->hc_head : weights_->mtp.at(size_t(op.layer - c.n_layers)).hc_head;
  const auto& streams = ws.at(op.reads[0]);
  auto& y = ws.buffer(op.writes[0], size_t(c.dim));
  graph::hc_head(row(streams, ws.n - 1, c.hc_mult * c.dim), params(hw), c.hc_mult, c.hc_eps, c.norm_eps, y);
}

void CpuExecutor::head(const Op& op, Workspace& ws) const {
  const auto& x = ws.at(op.reads[0]);
  auto& logits = ws.buffer(op.writes[0], size_t(weights_->head.rows));
  linear_fp32(weights_->head, x, logits);
}

}  // namespace dsv4::graph
