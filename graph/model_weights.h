// The whole model's weights as the CPU reference holds them: every tensor of the model-spec §2.4
// inventory dequantised to float (bf16/e4m3/e2m1 values times their power-of-two scales, exact),
// grouped after the official modules (Block, Attention, Compressor, Indexer, MoE, Expert).
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "graph/linear.h"
#include "weights/model_config.h"

namespace dsv4::graph {

struct HcWeights {  // hc_*_fn / _base / _scale
  std::vector<float> fn, base, scale;
};

struct CompressorWeights {
  Weight wkv, wgate;       // [coff*d, D]
  std::vector<float> ape;  // [ratio, coff*d]
  std::vector<float> norm; // [d]
};

struct IndexerWeights {
  Weight wq_b;          // [HI*DI, Q] FP8
  Weight weights_proj;  // [HI, D] BF16
  CompressorWeights compressor;
};

struct AttentionWeights {
  Weight wq_a, wq_b, wkv, wo_a, wo_b;
  std::vector<float> q_norm, kv_norm, attn_sink;
  bool has_compressor = false, has_indexer = false;
  CompressorWeights compressor;
  IndexerWeights indexer;
};

struct ExpertWeights {
  Weight w1, w2, w3;
};

struct MoeWeights {
  Weight gate;                   // [E, D] BF16
  std::vector<float> bias;       // [E] (non-hash layers)
  std::vector<int64_t> tid2eid;  // [vocab, k] (hash layers)
  std::vector<ExpertWeights> experts;
  ExpertWeights shared;
};

struct BlockWeights {
  std::vector<float> attn_norm, ffn_norm;
  HcWeights hc_attn, hc_ffn;
  AttentionWeights attn;
  MoeWeights ffn;
};

struct MtpWeights {  // mtp.0: a Block plus its input projections and own head collapse
  BlockWeights block;
  Weight e_proj, h_proj;
  std::vector<float> enorm, hnorm, norm;
  HcWeights hc_head;
};

struct ModelWeights {
  ModelConfig cfg;
  Weight embed;  // [vocab, D]
  Weight head;   // [vocab, D]
  std::vector<float> norm;
  HcWeights hc_head;
  std::vector<BlockWeights> layers;
  std::vector<MtpWeights> mtp;  // empty unless loaded with_mtp
};

// Reads config.json and the safetensors of `dir`; checks every tensor's presence and shape
// against the config (ModelError naming the tensor otherwise).
ModelWeights load_model_weights(const std::filesystem::path& dir, bool with_mtp = false);

}  // namespace dsv4::graph
