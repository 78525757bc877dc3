// ModelConfig: one validated DeepSeek-V4 configuration, read from config.json in either dialect
// (model-spec §1.1 release keys, §1.2 transformers dialect). Field names follow the official
// inference/model.py ModelArgs so the code reads next to the spec.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace dsv4 {

enum class ExpertDtype { FP4, FP8 };

struct ModelConfig {
  std::string source;  // the config.json this came from (for error messages)

  int64_t vocab_size = 0;
  int64_t dim = 0;            // hidden_size
  int64_t moe_inter_dim = 0;  // moe_intermediate_size (routed and shared experts)
  int64_t n_layers = 0;       // num_hidden_layers (main blocks; MTP not counted)
  int64_t n_hash_layers = 0;  // num_hash_layers: layers [0, n_hash_layers) route by tid2eid
  int64_t n_mtp_layers = 1;   // num_nextn_predict_layers
  int64_t n_heads = 0;
  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 1;
  int64_t n_activated_experts = 0;  // num_experts_per_tok
  float route_scale = 1.f;          // routed_scaling_factor
  float swiglu_limit = 0.f;
  int64_t q_lora_rank = 0;
  int64_t head_dim = 0;
  int64_t rope_head_dim = 0;  // qk_rope_head_dim: the LAST rope_head_dim dims of every head
  float norm_eps = 1e-6f;     // rms_norm_eps
  int64_t o_groups = 0;
  int64_t o_lora_rank = 0;
  int64_t window_size = 0;  // sliding_window
  int64_t original_seq_len = 0;  // rope_scaling.original_max_position_embeddings
  double rope_theta = 10000.0;
  double rope_factor = 1.0;  // rope_scaling.factor
  double beta_fast = 32.0, beta_slow = 1.0;
  double compress_rope_theta = 160000.0;
  int64_t index_n_heads = 0, index_head_dim = 0, index_topk = 0;
  int64_t hc_mult = 4, hc_sinkhorn_iters = 20;
  float hc_eps = 1e-6f;
  std::vector<int64_t> compress_ratios;  // n_layers + n_mtp_layers entries; last = MTP block
  ExpertDtype expert_dtype = ExpertDtype::FP4;
  int64_t max_position_embeddings = 0;
  int64_t bos_token_id = 0, eos_token_id = 1;
  // False when config.json has no `expert_dtype` (initial Flash revision, Base checkpoints):
  // the inventory then takes the experts' format from the checkpoint header (model-spec §2.6).
  bool expert_dtype_explicit = false;

  // Derived (model-spec §1.3).
  int64_t nope_head_dim() const { return head_dim - rope_head_dim; }
  int64_t ratio(int64_t layer) const { return compress_ratios.at(size_t(layer)); }
  bool is_hash_layer(int64_t layer) const { return layer < n_hash_layers; }  // MTP (= n_layers) never
  int64_t hc_mix_width() const { return (2 + hc_mult) * hc_mult; }
  int64_t n_blocks() const { return n_layers + n_mtp_layers; }  // main blocks, then MTP blocks
  // Layers whose ratio > 0 and != 4 behave like ratio 128 (non-overlapping compressor, no indexer).
  bool has_indexer(int64_t layer) const { return ratio(layer) == 4; }
  int64_t compressor_coff(int64_t layer) const { return ratio(layer) == 4 ? 2 : 1; }
};

// The release dialect (model-spec §1.1) of `c`: what make-model writes as config.json.
nlohmann::json model_config_to_json(const ModelConfig& c);

// Parses and validates. Throws ModelError naming `source` and the offending key.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source);
// Reads `path` (a config.json, or a model directory containing one).
ModelConfig load_model_config(const std::filesystem::path& path);

}  // namespace dsv4
