// The op list: one forward step of the model as data (design.md §4.2). Ops are named after the
// model's modules ("layers.3.attn.compressor"); what changes per step (positions, token ids, the
// chunk length) is not in the ops but in StepParams, so a recording of the list stays valid.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dsv4::graph {

enum class OpKind {
  Embed,            // token ids -> hc streams (embedding row repeated hc_mult times)
  HcPre,            // hc streams -> sub-layer input y, post, comb        (Block.hc_pre)
  RmsNorm,          // y -> x                                              (attn_norm, ffn_norm, norm)
  AttnQuery,        // x -> qr, q: wq_a, q_norm, wq_b, per-head RMS, RoPE  (Attention q path)
  AttnKv,           // x -> kv: wkv, kv_norm, RoPE, FP8 nope round-trip    (Attention kv path)
  IndexerQuery,     // qr, x -> index q (RoPE, Hadamard, FP4), head weights (Indexer)
  Compressor,       // x -> compressed entries appended to a cache          (Compressor)
  IndexerTopk,      // index q, weights, index keys -> selected entries    (Indexer scores + top-k)
  SparseAttention,  // q, kv, window ring, compressed cache, selection -> o (sparse_attn)
  WindowWrite,      // kv -> window ring slots p mod window
  AttnOutput,       // o -> attention output: inverse RoPE, wo_a, wo_b
  HcPost,           // sub-layer output, hc streams -> hc streams          (Block.hc_post)
  Gate,             // x, token ids -> routing                             (Gate)
  Moe,              // x, routing -> ffn output: routed + shared experts   (MoE)
  MtpInput,         // main hidden streams, token ids -> hc streams: enorm/hnorm, e_proj + h_proj
  HcHead,           // hc streams (last position) -> y                     (hc_head)
  Head,             // y -> fp32 logits                                    (head)
};

const char* op_kind_name(OpKind k);

struct Op {
  OpKind kind;
  std::string name;                 // module name; weights are found under it
  int64_t layer = -1;               // block index (n_layers + i for mtp.i), -1 outside blocks
  std::vector<std::string> reads;   // buffer names
  std::vector<std::string> writes;  // buffer names
};

struct OpList {
  std::vector<Op> ops;
  std::string describe() const;  // one line per op: kind, name, reads -> writes
};

// Per-step values every op reads: the chunk's tokens at positions start_pos .. start_pos+n-1.
struct StepParams {
  int64_t start_pos = 0;
  std::vector<int64_t> tokens;
};

}  // namespace dsv4::graph
