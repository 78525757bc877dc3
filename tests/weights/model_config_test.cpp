// ModelConfig parsing: the fixture and the real Flash/Pro configs (values checked against the key
// table of model-spec §1.1), the transformers dialect, and one clear error per bad config.
#include "weights/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "weights/error.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

const std::string kData = DSV4_TEST_DATA_DIR;

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// The message a config produces, or "" when it is accepted.
std::string error_of(const json& j) {
  try {
    parse_model_config(j, "cfg.json");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, TinyAFixture) {
  const ModelConfig c = load_model_config(kData + "/tiny-a");  // a directory works too
  EXPECT_EQ(c.source, kData + "/tiny-a/config.json");
  EXPECT_EQ(c.vocab_size, 1024);
  EXPECT_EQ(c.dim, 256);
  EXPECT_EQ(c.moe_inter_dim, 128);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_hash_layers, 1);
  EXPECT_EQ(c.n_mtp_layers, 1);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_routed_experts, 8);
  EXPECT_EQ(c.n_activated_experts, 2);
  EXPECT_FLOAT_EQ(c.route_scale, 1.5f);
  EXPECT_FLOAT_EQ(c.swiglu_limit, 10.f);
  EXPECT_EQ(c.q_lora_rank, 128);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.rope_head_dim, 64);
  EXPECT_EQ(c.nope_head_dim(), 64);
  EXPECT_EQ(c.o_groups, 2);
  EXPECT_EQ(c.o_lora_rank, 64);
  EXPECT_EQ(c.window_size, 8);
  EXPECT_EQ(c.original_seq_len, 65536);
  EXPECT_DOUBLE_EQ(c.rope_factor, 16.0);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.compress_rope_theta, 160000.0);
  EXPECT_EQ(c.index_n_heads, 4);
  EXPECT_EQ(c.index_head_dim, 64);
  EXPECT_EQ(c.index_topk, 3);
  EXPECT_EQ(c.hc_mult, 4);
  EXPECT_EQ(c.hc_mix_width(), 24);
  EXPECT_EQ(c.compress_ratios, (std::vector<int64_t>{0, 4, 16, 4, 16, 0}));
  EXPECT_EQ(c.expert_dtype, ExpertDtype::FP4);
  EXPECT_TRUE(c.expert_dtype_explicit);
  EXPECT_TRUE(c.is_hash_layer(0));
  EXPECT_FALSE(c.is_hash_layer(1));
  EXPECT_TRUE(c.has_indexer(1));
  EXPECT_FALSE(c.has_indexer(2));
  EXPECT_EQ(c.compressor_coff(1), 2);
  EXPECT_EQ(c.compressor_coff(2), 1);
}

TEST(ModelConfig, RealFlashAndPro) {
  const ModelConfig f = load_model_config(kData + "/configs/flash/config.json");
  EXPECT_EQ(f.dim, 4096);
  EXPECT_EQ(f.n_layers, 43);
  EXPECT_EQ(f.compress_ratios.size(), 44u);
  EXPECT_EQ(f.ratio(0), 0);
  EXPECT_EQ(f.ratio(2), 4);
  EXPECT_EQ(f.ratio(3), 128);
  EXPECT_EQ(f.ratio(42), 4);
  EXPECT_EQ(f.ratio(43), 0);
  EXPECT_EQ(f.nope_head_dim(), 448);
  const ModelConfig p = load_model_config(kData + "/configs/pro");
  EXPECT_EQ(p.dim, 7168);
  EXPECT_EQ(p.n_layers, 61);
  EXPECT_EQ(p.ratio(0), 128);
  EXPECT_EQ(p.ratio(60), 4);
  EXPECT_EQ(p.n_routed_experts, 384);
  EXPECT_FLOAT_EQ(p.route_scale, 2.5f);
}

TEST(ModelConfig, WritesWhatItReads) {
  const ModelConfig a = load_model_config(kData + "/tiny-a");
  const ModelConfig b = parse_model_config(model_config_to_json(a), a.source);
  EXPECT_EQ(model_config_to_json(a), model_config_to_json(b));
  EXPECT_EQ(b.compress_ratios, a.compress_ratios);
}

// The tiny-a config rewritten in the transformers dialect (model-spec §1.2) means the same model.
TEST(ModelConfig, TransformersDialectTranslates) {
  json j = read_json(kData + "/tiny-a/config.json");
  for (const char* k : {"compress_ratios", "num_hash_layers", "qk_rope_head_dim", "rope_scaling"}) j.erase(k);
  j["layer_types"] = {"sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention",
                      "compressed_sparse_attention", "heavily_compressed_attention"};
  j["compress_rates"] = {{"compressed_sparse_attention", 4}, {"heavily_compressed_attention", 16}};
  j["mlp_layer_types"] = {"hash_moe", "moe", "moe", "moe", "moe"};
  j["partial_rotary_factor"] = 0.5;
  j["rope_parameters"] = {
      {"main", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
      {"compress",
       {{"rope_type", "yarn"}, {"rope_theta", 160000.0}, {"factor", 16}, {"original_max_position_embeddings", 65536},
        {"beta_fast", 32}, {"beta_slow", 1}}}};
  const ModelConfig t = parse_model_config(j, "hf.json");
  const ModelConfig r = load_model_config(kData + "/tiny-a");
  EXPECT_EQ(t.compress_ratios, r.compress_ratios);
  EXPECT_EQ(t.n_hash_layers, 1);
  EXPECT_EQ(t.rope_head_dim, 64);
  EXPECT_EQ(t.original_seq_len, 65536);
  EXPECT_DOUBLE_EQ(t.rope_factor, 16.0);
  EXPECT_EQ(model_config_to_json(t), model_config_to_json(r));
}

TEST(ModelConfig, TransformersDefaults) {
  json j = read_json(kData + "/tiny-a/config.json");
  for (const char* k : {"compress_ratios", "num_hash_layers", "qk_rope_head_dim"}) j.erase(k);
  j["partial_rotary_factor"] = 0.5;
  j["num_nextn_predict_layers"] = 0;
  const ModelConfig c = parse_model_config(j, "hf.json");
  // DeepseekV4Config's defaults: 2 HCA layers then HCA/CSA alternating; 3 hash layers.
  EXPECT_EQ(c.compress_ratios, (std::vector<int64_t>{128, 128, 128, 4, 128}));
  EXPECT_EQ(c.n_hash_layers, 3);
  EXPECT_EQ(c.n_mtp_layers, 0);
}

struct BadCase {
  const char* what;
  void (*edit)(json&);
  const char* expect;  // substring of the one-line message
};

const BadCase kBad[] = {
    {"missing key", [](json& j) { j.erase("hidden_size"); }, "key 'hidden_size': missing"},
    {"wrong type", [](json& j) { j["head_dim"] = "128"; }, "key 'head_dim': expected an integer"},
    {"fractional int", [](json& j) { j["head_dim"] = 128.5; }, "key 'head_dim': expected an integer"},
    {"unknown model_type", [](json& j) { j["model_type"] = "deepseek_v3"; }, "key 'model_type': 'deepseek_v3'"},
    {"missing model_type", [](json& j) { j.erase("model_type"); }, "key 'model_type': missing"},
    {"dspark model", [](json& j) { j["dspark_num_layers"] = 2; }, "key 'dspark_num_layers'"},
    {"engram model", [](json& j) { j["engram_config"] = json::object(); }, "key 'engram_config'"},
    {"ratios length", [](json& j) { j["compress_ratios"] = {0, 4, 16, 4, 16}; }, "key 'compress_ratios': has 5"},
    {"bad ratio", [](json& j) { j["compress_ratios"][2] = 3; }, "entry 2 = 3"},
    {"negative dim", [](json& j) { j["q_lora_rank"] = -128; }, "key 'q_lora_rank': must be positive"},
    {"nope not x64", [](json& j) { j["qk_rope_head_dim"] = 32; }, "multiple of 64"},
    {"rope >= head", [](json& j) { j["head_dim"] = 64; }, "key 'head_dim': must exceed"},
    {"dim not x128", [](json& j) { j["hidden_size"] = 320; }, "key 'hidden_size': 320 must be a multiple of 128"},
    {"groups", [](json& j) { j["o_groups"] = 3; }, "key 'o_groups': must divide"},
    {"topk > experts", [](json& j) { j["num_experts_per_tok"] = 9; }, "key 'num_experts_per_tok'"},
    {"shared experts", [](json& j) { j["n_shared_experts"] = 2; }, "key 'n_shared_experts'"},
    {"kv heads", [](json& j) { j["num_key_value_heads"] = 4; }, "key 'num_key_value_heads'"},
    {"expert dtype", [](json& j) { j["expert_dtype"] = "int4"; }, "key 'expert_dtype': 'int4'"},
    {"index head dim", [](json& j) { j["index_head_dim"] = 48; }, "key 'index_head_dim'"},
    {"block size", [](json& j) { j["quantization_config"]["weight_block_size"] = {64, 64}; },
     "key 'quantization_config.weight_block_size'"},
    {"rope type", [](json& j) { j["rope_scaling"]["type"] = "longrope"; }, "key 'rope_scaling.type'"},
    {"yarn factor", [](json& j) { j["rope_scaling"].erase("factor"); }, "key 'rope_scaling.factor': missing"},
    {"hash > layers", [](json& j) { j["num_hash_layers"] = 6; }, "key 'num_hash_layers'"},
    {"contradiction rope", [](json& j) { j["partial_rotary_factor"] = 0.25; }, "key 'qk_rope_head_dim': contradicts"},
    {"contradiction hash", [](json& j) { j["mlp_layer_types"] = {"hash_moe", "hash_moe", "moe", "moe", "moe"}; },
     "key 'num_hash_layers': contradicts"},
    {"contradiction types",
     [](json& j) {
       j["layer_types"] = {"sliding_attention", "sliding_attention", "heavily_compressed_attention",
                           "compressed_sparse_attention", "heavily_compressed_attention"};
       j["compress_rates"] = {{"heavily_compressed_attention", 16}};
     },
     "key 'layer_types': layer 1 contradicts"},
    {"unknown layer type", [](json& j) { j["layer_types"] = {"dense", "a", "b", "c", "d"}; }, "unknown layer type 'dense'"},
    {"not an object", [](json& j) { j = json::array(); }, "expected a JSON object"},
    {"architectures", [](json& j) { j["architectures"] = {"DeepseekV3ForCausalLM"}; }, "key 'architectures'"},
};

TEST(ModelConfig, RejectsBadConfigsWithOneClearLine) {
  const json good = read_json(kData + "/tiny-a/config.json");
  ASSERT_EQ(error_of(good), "");
  for (const auto& bad : kBad) {
    json j = good;
    bad.edit(j);
    const std::string msg = error_of(j);
    EXPECT_THAT(msg, HasSubstr(bad.expect)) << bad.what;
    EXPECT_THAT(msg, HasSubstr("cfg.json")) << bad.what;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << bad.what;
  }
}

TEST(ModelConfig, FileErrorsNameTheFile) {
  const std::string dir = std::string(DSV4_BUILD_DIR) + "/test_cfg_files";
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/config.json") << "{\"model_type\": \"deepseek_v4\", "; }
  try {
    load_model_config(dir);
    FAIL() << "accepted truncated JSON";
  } catch (const ModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir + "/config.json: invalid JSON"));
  }
  std::filesystem::remove(dir + "/config.json");
  EXPECT_THROW(load_model_config(dir), ModelError);
}

}  // namespace
}  // namespace dsv4
