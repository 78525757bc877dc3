// config.json -> ModelConfig (model-spec §1.1, §1.2). Two dialects are accepted:
//   release:      the keys of the hub's config.json (compress_ratios, num_hash_layers,
//                 qk_rope_head_dim, rope_scaling);
//   transformers: DeepseekV4Config's own keys (layer_types + compress_rates, mlp_layer_types,
//                 partial_rotary_factor, rope_parameters {main, compress}).
// A config may mix both as long as they agree; a disagreement is rejected, naming both keys.
#include "weights/model_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "weights/error.h"
#include "weights/model_files.h"

namespace dsv4 {

namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& key, const std::string& what) {
  throw ModelError(source + ": key '" + key + "': " + what);
}

std::string kind_of(const json& v) { return std::string(v.type_name()); }

// An integer-valued JSON number (16 and 16.0 both qualify: hand-written configs use either).
bool as_integer(const json& v, int64_t* out) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      return false;
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) return false;
    *out = int64_t(d);
    return true;
  }
  return false;
}

// Reads the keys of one JSON object with the file name at hand for every error.
class Reader {
 public:
  Reader(const json& j, std::string source, std::string prefix = "")
      : j_(j), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  std::string name(const char* key) const { return prefix_ + key; }
  [[noreturn]] void fail_key(const char* key, const std::string& what) const {
    fail(source_, name(key), what);
  }
  const json& raw(const char* key) const { return j_.at(key); }

  int64_t integer(const char* key) const {
    if (!has(key)) fail_key(key, "missing");
    int64_t v = 0;
    if (!as_integer(raw(key), &v)) fail_key(key, "expected an integer, got " + dump(raw(key)));
    return v;
  }
  int64_t integer(const char* key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }

  double number(const char* key) const {
    if (!has(key)) fail_key(key, "missing");
    const json& v = raw(key);
    if (!v.is_number()) fail_key(key, "expected a number, got " + dump(v));
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail_key(key, "not a finite number");
    return d;
  }
  double number(const char* key, double fallback) const { return has(key) ? number(key) : fallback; }

  std::string string(const char* key) const {
    if (!has(key)) fail_key(key, "missing");
    if (!raw(key).is_string()) fail_key(key, "expected a string, got " + dump(raw(key)));
    return raw(key).get<std::string>();
  }

  const json& object(const char* key) const {
    if (!raw(key).is_object()) fail_key(key, "expected an object, got " + kind_of(raw(key)));
    return raw(key);
  }
  const json& array(const char* key) const {
    if (!raw(key).is_array()) fail_key(key, "expected an array, got " + kind_of(raw(key)));
    return raw(key);
  }

 private:
  static std::string dump(const json& v) {
    std::string s = v.dump();
    return s.size() > 40 ? s.substr(0, 40) + "..." : s;
  }
  const json& j_;
  std::string source_;
  std::string prefix_;
};

// Later DeepSeek models (V4.1 "dspark", Engram) need modules dsv4 does not have (model-spec §9.18).
void reject_later_models(const json& j, const std::string& source) {
  for (const auto& [key, value] : j.items()) {
    std::string lower;
    for (char ch : key) lower += char(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.rfind("dspark", 0) == 0 || lower.find("engram") != std::string::npos)
      fail(source, key, "belongs to a later DeepSeek model (dspark/Engram), which dsv4 cannot run");
  }
}

void read_identity(const Reader& r, const json& j, const std::string& source) {
  const std::string type = r.string("model_type");
  if (type != "deepseek_v4")
    r.fail_key("model_type", "'" + type + "' is not a DeepSeek-V4 model (expected 'deepseek_v4')");
  if (r.has("architectures")) {
    const json& a = r.array("architectures");
    for (const auto& v : a)
      if (!v.is_string() || v.get<std::string>() != "DeepseekV4ForCausalLM")
        r.fail_key("architectures", "expected [\"DeepseekV4ForCausalLM\"], got " + v.dump());
  }
  reject_later_models(j, source);
}

// Keys fixed by the official code: accepted only with their one supported value.
void check_fixed_keys(const Reader& r) {
  if (r.has("num_key_value_heads") && r.integer("num_key_value_heads") != 1)
    r.fail_key("num_key_value_heads", "must be 1 (one shared latent KV head)");
  if (r.has("scoring_func") && r.string("scoring_func") != "sqrtsoftplus")
    r.fail_key("scoring_func", "'" + r.string("scoring_func") + "' is not supported (expected 'sqrtsoftplus')");
  if (r.has("hidden_act") && r.string("hidden_act") != "silu")
    r.fail_key("hidden_act", "'" + r.string("hidden_act") + "' is not supported (expected 'silu')");
  if (r.has("tie_word_embeddings") && r.raw("tie_word_embeddings") != json(false))
    r.fail_key("tie_word_embeddings", "tied embeddings are not supported (DeepSeek-V4 has a separate head)");
}

void read_quantization(const Reader& r, const std::string& source) {
  if (!r.has("quantization_config")) return;
  const Reader q(r.object("quantization_config"), source, "quantization_config.");
  if (q.has("quant_method") && q.string("quant_method") != "fp8")
    q.fail_key("quant_method", "'" + q.string("quant_method") + "' is not supported (expected 'fp8')");
  if (q.has("fmt") && q.string("fmt") != "e4m3")
    q.fail_key("fmt", "'" + q.string("fmt") + "' is not supported (expected 'e4m3')");
  if (q.has("weight_block_size")) {
    const json& b = q.array("weight_block_size");
    if (b != json::array({128, 128}))
      q.fail_key("weight_block_size", "must be [128, 128], got " + b.dump());
  }
}

void read_dims(const Reader& r, ModelConfig& c) {
  c.vocab_size = r.integer("vocab_size", 129280);
  c.dim = r.integer("hidden_size");
  c.moe_inter_dim = r.integer("moe_intermediate_size");
  c.n_layers = r.integer("num_hidden_layers");
  c.n_mtp_layers = r.integer("num_nextn_predict_layers", 1);
  c.n_heads = r.integer("num_attention_heads");
  c.n_routed_experts = r.integer("n_routed_experts");
  c.n_shared_experts = r.integer("n_shared_experts", 1);
  c.n_activated_experts = r.integer("num_experts_per_tok");
  c.route_scale = float(r.number("routed_scaling_factor", 1.0));
  c.swiglu_limit = float(r.number("swiglu_limit", 0.0));
  c.q_lora_rank = r.integer("q_lora_rank");
  c.head_dim = r.integer("head_dim");
  c.norm_eps = float(r.number("rms_norm_eps", 1e-6));
  c.o_groups = r.integer("o_groups");
  c.o_lora_rank = r.integer("o_lora_rank");
  c.window_size = r.integer("sliding_window");
  c.rope_theta = r.number("rope_theta", 10000.0);
  c.compress_rope_theta = r.number("compress_rope_theta", 160000.0);
  c.index_n_heads = r.integer("index_n_heads", 0);
  c.index_head_dim = r.integer("index_head_dim", 0);
  c.index_topk = r.integer("index_topk", 0);
  c.hc_mult = r.integer("hc_mult", 4);
  c.hc_sinkhorn_iters = r.integer("hc_sinkhorn_iters", 20);
  c.hc_eps = float(r.number("hc_eps", 1e-6));
  c.max_position_embeddings = r.integer("max_position_embeddings", 0);
  c.bos_token_id = r.integer("bos_token_id", 0);
  c.eos_token_id = r.has("eos_token_id") && r.raw("eos_token_id").is_array() ? 1 : r.integer("eos_token_id", 1);
}

void read_expert_dtype(const Reader& r, ModelConfig& c) {
  if (!r.has("expert_dtype")) return;
  const std::string e = r.string("expert_dtype");
  if (e == "fp4") c.expert_dtype = ExpertDtype::FP4;
  else if (e == "fp8") c.expert_dtype = ExpertDtype::FP8;
  else r.fail_key("expert_dtype", "'" + e + "' is not supported (expected 'fp4' or 'fp8')");
  c.expert_dtype_explicit = true;
}

// rope_head_dim: qk_rope_head_dim (release) and/or partial_rotary_factor · head_dim (transformers).
void read_rope_dim(const Reader& r, ModelConfig& c, bool transformers) {
  int64_t from_factor = -1;
  if (r.has("partial_rotary_factor")) {
    const double f = r.number("partial_rotary_factor");
    const double d = f * double(c.head_dim);
    if (!(f > 0 && f < 1) || std::fabs(d - std::round(d)) > 1e-6)
      r.fail_key("partial_rotary_factor", "must give a whole number of rope dims in (0, head_dim)");
    from_factor = int64_t(std::llround(d));
  }
  if (r.has("qk_rope_head_dim")) {
    c.rope_head_dim = r.integer("qk_rope_head_dim");
    if (from_factor >= 0 && from_factor != c.rope_head_dim)
      r.fail_key("qk_rope_head_dim", "contradicts partial_rotary_factor × head_dim = " + std::to_string(from_factor));
  } else if (from_factor >= 0) {
    c.rope_head_dim = from_factor;
  } else if (transformers) {
    c.rope_head_dim = c.head_dim / 8;  // DeepseekV4Config default 64/512
  } else {
    r.fail_key("qk_rope_head_dim", "missing");
  }
}

void read_yarn(const Reader& y, ModelConfig& c) {
  if (y.has("type") || y.has("rope_type")) {
    const std::string t = y.has("rope_type") ? y.string("rope_type") : y.string("type");
    if (t != "yarn" && t != "default")
      y.fail_key(y.has("rope_type") ? "rope_type" : "type", "'" + t + "' is not supported (expected 'yarn')");
    if (t == "default") { c.rope_factor = 1.0; c.original_seq_len = 0; return; }
  }
  c.rope_factor = y.number("factor");
  c.original_seq_len = y.integer("original_max_position_embeddings");
  c.beta_fast = y.number("beta_fast", 32.0);
  c.beta_slow = y.number("beta_slow", 1.0);
}

void read_rope(const Reader& r, ModelConfig& c, const std::string& source) {
  if (r.has("rope_scaling")) {
    read_yarn(Reader(r.object("rope_scaling"), source, "rope_scaling."), c);
    return;
  }
  if (!r.has("rope_parameters")) { c.rope_factor = 1.0; c.original_seq_len = 0; return; }
  const json& p = r.object("rope_parameters");
  if (p.contains("main") || p.contains("compress")) {  // nested: {main, compress}
    const Reader rp(p, source, "rope_parameters.");
    if (rp.has("main")) {
      const Reader m(rp.object("main"), source, "rope_parameters.main.");
      c.rope_theta = m.number("rope_theta", c.rope_theta);
    }
    if (rp.has("compress")) {
      const Reader k(rp.object("compress"), source, "rope_parameters.compress.");
      c.compress_rope_theta = k.number("rope_theta", c.compress_rope_theta);
      read_yarn(k, c);
    }
  } else {
    read_yarn(Reader(p, source, "rope_parameters."), c);
  }
}

// n_hash_layers: num_hash_layers (release) and/or a hash_moe prefix of mlp_layer_types.
void read_hash_layers(const Reader& r, ModelConfig& c, bool transformers) {
  int64_t from_types = -1;
  if (r.has("mlp_layer_types")) {
    const json& t = r.array("mlp_layer_types");
    if (int64_t(t.size()) != c.n_layers)
      r.fail_key("mlp_layer_types", "has " + std::to_string(t.size()) + " entries, num_hidden_layers is " +
                                        std::to_string(c.n_layers));
    from_types = 0;
    bool in_prefix = true;
    for (const auto& v : t) {
      const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      if (s == "hash_moe" && in_prefix) ++from_types;
      else if (s == "moe") in_prefix = false;
      else r.fail_key("mlp_layer_types", "'" + s + "': expected 'hash_moe' layers first, then 'moe'");
    }
  }
  if (r.has("num_hash_layers")) {
    c.n_hash_layers = r.integer("num_hash_layers");
    if (from_types >= 0 && from_types != c.n_hash_layers)
      r.fail_key("num_hash_layers", "contradicts mlp_layer_types (" + std::to_string(from_types) + " hash layers)");
  } else if (from_types >= 0) {
    c.n_hash_layers = from_types;
  } else {
    c.n_hash_layers = transformers ? std::min<int64_t>(3, c.n_layers) : 0;  // either dialect's default
  }
}

int64_t rate_of(const Reader& r, const std::string& source, const std::string& type) {
  int64_t csa = 4, hca = 128;
  if (r.has("compress_rates")) {
    const Reader rates(r.object("compress_rates"), source, "compress_rates.");
    csa = rates.integer("compressed_sparse_attention", csa);
    hca = rates.integer("heavily_compressed_attention", hca);
  }
  csa = r.integer("compress_rate_csa", csa);
  hca = r.integer("compress_rate_hca", hca);
  if (type == "sliding_attention") return 0;
  if (type == "compressed_sparse_attention") return csa;
  if (type == "heavily_compressed_attention") return hca;
  r.fail_key("layer_types", "unknown layer type '" + type + "'");
}

std::vector<int64_t> ratios_from_layer_types(const Reader& r, const ModelConfig& c, const std::string& source) {
  std::vector<std::string> types;
  if (r.has("layer_types")) {
    for (const auto& v : r.array("layer_types"))
      types.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    if (int64_t(types.size()) < c.n_layers)
      r.fail_key("layer_types", "has " + std::to_string(types.size()) + " entries, num_hidden_layers is " +
                                    std::to_string(c.n_layers));
    types.resize(size_t(c.n_layers));
  } else {  // DeepseekV4Config's default schedule: 2 HCA layers, then HCA/CSA alternating
    for (int64_t i = 0; i < c.n_layers; ++i)
      types.push_back(i >= 2 && (i - 2) % 2 == 1 ? "compressed_sparse_attention" : "heavily_compressed_attention");
  }
  std::vector<int64_t> ratios;
  for (const auto& t : types) ratios.push_back(rate_of(r, source, t));
  for (int64_t i = 0; i < c.n_mtp_layers; ++i) ratios.push_back(0);  // the MTP block is sliding-window
  return ratios;
}

void read_compress_ratios(const Reader& r, ModelConfig& c, const std::string& source, bool transformers) {
  std::vector<int64_t> from_types;
  if (transformers) from_types = ratios_from_layer_types(r, c, source);
  if (!r.has("compress_ratios")) {
    if (!transformers) r.fail_key("compress_ratios", "missing");
    c.compress_ratios = from_types;
    return;
  }
  const json& a = r.array("compress_ratios");
  for (const auto& v : a) {
    int64_t x = 0;
    if (!as_integer(v, &x)) r.fail_key("compress_ratios", "entry " + v.dump() + " is not an integer");
    c.compress_ratios.push_back(x);
  }
  if (int64_t(c.compress_ratios.size()) != c.n_layers + c.n_mtp_layers)
    r.fail_key("compress_ratios", "has " + std::to_string(c.compress_ratios.size()) +
                                      " entries, expected num_hidden_layers + num_nextn_predict_layers = " +
                                      std::to_string(c.n_layers + c.n_mtp_layers));
  if (r.has("layer_types")) {
    for (int64_t i = 0; i < c.n_layers; ++i)
      if (from_types[size_t(i)] != c.compress_ratios[size_t(i)])
        r.fail_key("layer_types", "layer " + std::to_string(i) + " contradicts compress_ratios");
  }
}

bool is_pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// The checks a config must pass before any shape is derived from it. Liberal where the math of the
// official code allows, strict where its kernels would fail (model-spec §2.3, §4.2, §9).
void validate(const ModelConfig& c) {
  const std::string& s = c.source;
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) fail(s, key, "must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.dim);
  positive("moe_intermediate_size", c.moe_inter_dim);
  positive("num_hidden_layers", c.n_layers);
  positive("num_attention_heads", c.n_heads);
  positive("n_routed_experts", c.n_routed_experts);
  positive("num_experts_per_tok", c.n_activated_experts);
  positive("q_lora_rank", c.q_lora_rank);
  positive("head_dim", c.head_dim);
  positive("qk_rope_head_dim", c.rope_head_dim);
  positive("o_groups", c.o_groups);
  positive("o_lora_rank", c.o_lora_rank);
  positive("sliding_window", c.window_size);
  positive("hc_mult", c.hc_mult);
  positive("hc_sinkhorn_iters", c.hc_sinkhorn_iters);
  // Upper bounds far above any real model, so that no derived size (tensor elements, parameter
  // totals, KV bytes) can overflow 64 bits, whatever a config says.
  auto at_most = [&](const char* key, int64_t v, int64_t max) {
    if (v > max) fail(s, key, std::to_string(v) + " exceeds the supported maximum " + std::to_string(max));
  };
  at_most("vocab_size", c.vocab_size, int64_t(1) << 22);
  at_most("hidden_size", c.dim, int64_t(1) << 18);
  at_most("moe_intermediate_size", c.moe_inter_dim, int64_t(1) << 18);
  at_most("num_attention_heads", c.n_heads, int64_t(1) << 12);
  at_most("n_routed_experts", c.n_routed_experts, int64_t(1) << 12);
  at_most("q_lora_rank", c.q_lora_rank, int64_t(1) << 18);
  at_most("head_dim", c.head_dim, int64_t(1) << 14);
  at_most("o_lora_rank", c.o_lora_rank, int64_t(1) << 18);
  at_most("o_groups", c.o_groups, int64_t(1) << 12);
  at_most("sliding_window", c.window_size, int64_t(1) << 24);
  at_most("index_n_heads", c.index_n_heads, int64_t(1) << 12);
  at_most("index_head_dim", c.index_head_dim, int64_t(1) << 14);
  at_most("index_topk", c.index_topk, int64_t(1) << 24);
  at_most("hc_mult", c.hc_mult, 16);
  at_most("hc_sinkhorn_iters", c.hc_sinkhorn_iters, 1000);
  at_most("max_position_embeddings", c.max_position_embeddings, int64_t(1) << 40);
  if (c.n_mtp_layers < 0) fail(s, "num_nextn_predict_layers", "must not be negative");
  if (c.n_shared_experts != 1) fail(s, "n_shared_experts", "must be 1 (the official code asserts it)");
  if (c.n_activated_experts > c.n_routed_experts)
    fail(s, "num_experts_per_tok", "exceeds n_routed_experts (" + std::to_string(c.n_routed_experts) + ")");
  if (c.n_hash_layers < 0 || c.n_hash_layers > c.n_layers)
    fail(s, "num_hash_layers", "must be in [0, num_hidden_layers]");
  if (c.rope_head_dim % 2 != 0) fail(s, "qk_rope_head_dim", "must be even (RoPE rotates pairs)");
  if (c.head_dim <= c.rope_head_dim) fail(s, "head_dim", "must exceed qk_rope_head_dim");
  if (c.nope_head_dim() % 64 != 0)
    fail(s, "head_dim", "head_dim - qk_rope_head_dim = " + std::to_string(c.nope_head_dim()) +
                            " must be a multiple of 64 (FP8 KV blocks of 64, model-spec §4.3)");
  if (c.n_heads % c.o_groups != 0) fail(s, "o_groups", "must divide num_attention_heads");
  // Every FP8/FP4 linear quantises its input in 1x128 blocks (model-spec §4.2).
  auto k128 = [&](const char* key, int64_t v) {
    if (v % 128 != 0) fail(s, key, std::to_string(v) + " must be a multiple of 128 (FP8 activation blocks)");
  };
  k128("hidden_size", c.dim);
  k128("q_lora_rank", c.q_lora_rank);
  k128("moe_intermediate_size", c.moe_inter_dim);
  k128("o_lora_rank", c.o_groups * c.o_lora_rank);
  if (c.rope_factor <= 0) fail(s, "rope_scaling.factor", "must be positive");
  if (c.rope_theta <= 1 || c.compress_rope_theta <= 1) fail(s, "rope_theta", "must exceed 1");
  if (c.norm_eps <= 0 || c.hc_eps < 0) fail(s, "rms_norm_eps", "must be positive");
  bool any_indexer = false;
  for (size_t i = 0; i < c.compress_ratios.size(); ++i) {
    const int64_t r = c.compress_ratios[i];
    if (r != 0 && !(is_pow2(r) && r >= 2 && r <= (int64_t(1) << 20)))
      fail(s, "compress_ratios", "entry " + std::to_string(i) + " = " + std::to_string(r) +
                                     " (must be 0, 4 or another power of two >= 2)");
    any_indexer |= r == 4;
  }
  if (any_indexer) {
    positive("index_n_heads", c.index_n_heads);
    positive("index_topk", c.index_topk);
    if (!is_pow2(c.index_head_dim) || c.index_head_dim < 32 || c.index_head_dim < c.rope_head_dim)
      fail(s, "index_head_dim", std::to_string(c.index_head_dim) +
                                    " must be a power of two >= 32 and >= qk_rope_head_dim (Hadamard, FP4 blocks)");
  }
}

}  // namespace

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw ModelError(source + ": expected a JSON object at the top level");
  const Reader r(j, source);
  read_identity(r, j, source);
  check_fixed_keys(r);
  read_quantization(r, source);
  // The transformers dialect is recognised by any of its own keys (model-spec §1.2).
  const bool transformers = r.has("layer_types") || r.has("compress_rates") || r.has("mlp_layer_types") ||
                            r.has("partial_rotary_factor") || r.has("rope_parameters");
  ModelConfig c;
  c.source = source;
  read_dims(r, c);
  read_expert_dtype(r, c);
  read_rope_dim(r, c, transformers);
  read_rope(r, c, source);
  read_hash_layers(r, c, transformers);
  if (c.n_layers <= 0 || c.n_layers > 1024) fail(source, "num_hidden_layers", "must be in [1, 1024]");
  if (c.n_mtp_layers < 0 || c.n_mtp_layers > 16) fail(source, "num_nextn_predict_layers", "must be in [0, 16]");
  read_compress_ratios(r, c, source, transformers);
  validate(c);
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) file = path / "config.json";
  check_model_file(file);
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ModelError(file.string() + ": cannot open (" + (std::filesystem::exists(file, ec) ? "unreadable" : "no such file") + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw ModelError(file.string() + ": invalid JSON at byte " + std::to_string(e.byte));
  } catch (const json::exception& e) {  // e.g. a number too large for any numeric type
    throw ModelError(file.string() + ": invalid JSON (" + e.what() + ")");
  }
  return parse_model_config(j, file.string());
}

nlohmann::json model_config_to_json(const ModelConfig& c) {
  json j;
  j["architectures"] = {"DeepseekV4ForCausalLM"};
  j["model_type"] = "deepseek_v4";
  j["torch_dtype"] = "bfloat16";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.dim;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = 1;
  j["head_dim"] = c.head_dim;
  j["qk_rope_head_dim"] = c.rope_head_dim;
  j["q_lora_rank"] = c.q_lora_rank;
  j["o_lora_rank"] = c.o_lora_rank;
  j["o_groups"] = c.o_groups;
  j["sliding_window"] = c.window_size;
  j["compress_rope_theta"] = c.compress_rope_theta;
  j["compress_ratios"] = c.compress_ratios;
  j["rope_theta"] = c.rope_theta;
  if (c.original_seq_len > 0)
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", c.rope_factor},
                         {"original_max_position_embeddings", c.original_seq_len},
                         {"beta_fast", c.beta_fast},
                         {"beta_slow", c.beta_slow}};
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["index_n_heads"] = c.index_n_heads;
  j["index_head_dim"] = c.index_head_dim;
  j["index_topk"] = c.index_topk;
  j["n_routed_experts"] = c.n_routed_experts;
  j["n_shared_experts"] = c.n_shared_experts;
  j["num_experts_per_tok"] = c.n_activated_experts;
  j["moe_intermediate_size"] = c.moe_inter_dim;
  j["num_hash_layers"] = c.n_hash_layers;
  j["scoring_func"] = "sqrtsoftplus";
  j["topk_method"] = "noaux_tc";
  j["norm_topk_prob"] = true;
  j["routed_scaling_factor"] = c.route_scale;
  j["swiglu_limit"] = c.swiglu_limit;
  j["hidden_act"] = "silu";
  j["hc_mult"] = c.hc_mult;
  j["hc_sinkhorn_iters"] = c.hc_sinkhorn_iters;
  j["hc_eps"] = c.hc_eps;
  j["rms_norm_eps"] = c.norm_eps;
  j["num_nextn_predict_layers"] = c.n_mtp_layers;
  j["expert_dtype"] = c.expert_dtype == ExpertDtype::FP8 ? "fp8" : "fp4";
  j["quantization_config"] = {{"activation_scheme", "dynamic"},
                              {"fmt", "e4m3"},
                              {"quant_method", "fp8"},
                              {"scale_fmt", "ue8m0"},
                              {"weight_block_size", {128, 128}}};
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["tie_word_embeddings"] = false;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  j["transformers_version"] = "4.57.1";
  return j;
}

}  // namespace dsv4
