// make-model's library side: each preset round-trips through the loader and the inventory, the
// tiny preset has exactly the tensors of the independently made tiny-a fixture, the weights
// are genuinely quantised with the intended spread, flash/pro use the real shapes. Writing a
// real Flash/Pro layer takes ~10 GB and tens of seconds: that test is compiled in only when
// configured with -DDSV4_SLOW_TESTS=ON (label `slow`).
#include "weights/synthetic_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "weights/dequant.h"
#include "weights/error.h"
#include "weights/formats.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = DSV4_TEST_DATA_DIR;

fs::path out_dir(const std::string& name) {
  const fs::path p = fs::path(DSV4_BUILD_DIR) / "test_make_model" / name;
  fs::remove_all(p);
  return p;
}

fs::path make(const std::string& name, SyntheticOptions o) {
  const fs::path p = out_dir(name);
  write_synthetic_model(o, p, false);
  return p;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

double stddev(const std::vector<float>& v) {
  double s = 0, q = 0;
  for (float x : v) s += x, q += double(x) * x;
  const double m = s / double(v.size());
  return std::sqrt(q / double(v.size()) - m * m);
}

TEST(MakeModel, TinyHasExactlyTheFixturesTensors) {
  const fs::path dir = make("tiny", {});
  const Checkpoint mine = Checkpoint::open(dir);
  const Checkpoint fixture = Checkpoint::open(kData + "/tiny-a");
  ASSERT_EQ(mine.tensors().size(), fixture.tensors().size());
  for (const auto& t : fixture.tensors()) {
    const TensorInfo* m = mine.find(t.name);
    ASSERT_NE(m, nullptr) << t.name;
    EXPECT_EQ(m->dtype, t.dtype) << t.name;
    EXPECT_EQ(m->shape, t.shape) << t.name;
  }
  EXPECT_GT(mine.files().size(), 2u);  // sharded, with an index
  EXPECT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  EXPECT_TRUE(check_inventory(load_model_config(dir), mine).empty());
  // same architecture keys as the fixture's config
  std::ifstream in(kData + "/tiny-a/config.json");
  const auto want = nlohmann::json::parse(in);
  std::ifstream in2(dir / "config.json");
  const auto got = nlohmann::json::parse(in2);
  for (const char* k : {"hidden_size", "num_hidden_layers", "num_attention_heads", "head_dim", "qk_rope_head_dim",
                        "q_lora_rank", "o_groups", "o_lora_rank", "sliding_window", "compress_ratios", "index_n_heads",
                        "index_head_dim", "index_topk", "n_routed_experts", "num_experts_per_tok", "num_hash_layers",
                        "moe_intermediate_size", "vocab_size", "model_type", "expert_dtype", "quantization_config"})
    EXPECT_EQ(got.at(k), want.at(k)) << k;
}

TEST(MakeModel, DeterministicForASeed) {
  SyntheticOptions o;
  o.seed = 42;
  const fs::path a = make("seed_a", o), b = make("seed_b", o);
  o.seed = 43;
  const fs::path c = make("seed_c", o);
  const std::string shard = "model-00003-of-00007.safetensors";
  EXPECT_EQ(file_bytes(a / shard), file_bytes(b / shard));
  EXPECT_NE(file_bytes(a / shard), file_bytes(c / shard));
}

// The spread of every generated tensor follows init_rule, and stays within a factor of the
// fixture's spread for the same tensor (an independent model with activations kept O(1)).
TEST(MakeModel, WeightsAreRealQuantisedTensorsWithTheFixturesSpread) {
  const fs::path dir = make("spread", {});
  const Checkpoint mine = Checkpoint::open(dir);
  const Checkpoint fixture = Checkpoint::open(kData + "/tiny-a");
  const ModelConfig c = load_model_config(dir);
  int checked = 0;
  for (const auto& e : model_inventory(c, {})) {
    if (e.is_scale || e.dtypes.front() == DType::I64 || e.expert > 1) continue;
    const std::string module = e.name.substr(0, e.name.rfind('.'));
    const TensorInfo* s = mine.find(module + ".scale");
    const TensorInfo* fs_ = fixture.find(module + ".scale");
    TensorView sv, fsv;
    if (s) sv = mine.view(*s), fsv = fixture.view(*fs_);
    const auto v = dequant_all(mine.view(e.name), s ? &sv : nullptr);
    const auto f = dequant_all(fixture.view(e.name), s ? &fsv : nullptr);
    for (float x : v) ASSERT_TRUE(std::isfinite(x)) << e.name;
    if (v.size() < 64) continue;
    const double sd = stddev(v), fsd = stddev(f);
    const InitRule r = init_rule(e, c);
    if (r.kind == InitRule::Normal) {
      const double tol = std::max(0.12, 4 / std::sqrt(2.0 * double(v.size())));  // sampling noise of a std
      EXPECT_NEAR(sd, r.b, tol * r.b) << e.name;
    }
    EXPECT_GT(sd, fsd / 1.6) << e.name;
    EXPECT_LT(sd, fsd * 1.6) << e.name;
    ++checked;
  }
  EXPECT_GT(checked, 100);
  // FP8 blocks use the e4m3 range: the largest code of a 128x128 block lies in (224, 448].
  const TensorView w = mine.view("layers.1.attn.wq_a.weight");
  float amax = 0;
  for (auto b : w.data) amax = std::max(amax, std::fabs(formats::e4m3_to_float(uint8_t(b))));
  EXPECT_GT(amax, 224.f);
  EXPECT_LE(amax, 448.f);
  // tid2eid: distinct experts per token, all in range.
  const auto ids = to_int64(mine.view("layers.0.ffn.gate.tid2eid"));
  for (size_t i = 0; i < ids.size(); i += 2) {
    EXPECT_NE(ids[i], ids[i + 1]);
    EXPECT_TRUE(ids[i] >= 0 && ids[i] < 8);
  }
}

TEST(MakeModel, SmallPresetRoundTrips) {
  SyntheticOptions o;
  o.preset = "small";
  o.layers = 3;
  const fs::path dir = make("small", o);
  const ModelConfig c = load_model_config(dir);
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.compress_ratios, (std::vector<int64_t>{0, 4, 128, 0}));
  EXPECT_EQ(c.nope_head_dim(), 128);
  EXPECT_TRUE(check_inventory(c, Checkpoint::open(dir)).empty());
}

TEST(MakeModel, BaseStyleFp8Experts) {
  SyntheticOptions o;
  o.experts = ExpertDtype::FP8;
  const fs::path dir = make("base", o);
  const ModelConfig c = load_model_config(dir);
  EXPECT_EQ(c.expert_dtype, ExpertDtype::FP8);
  const Checkpoint ck = Checkpoint::open(dir);
  EXPECT_TRUE(check_inventory(c, ck).empty());
  EXPECT_EQ(ck.at("layers.2.ffn.experts.3.w2.weight").dtype, DType::F8_E4M3);
  EXPECT_EQ(ck.at("layers.2.ffn.experts.3.w2.scale").dtype, DType::F32);
  EXPECT_EQ(ck.at("layers.2.attn.wq_a.scale").dtype, DType::F32);
  const TensorView s = ck.view("layers.2.ffn.experts.3.w2.scale");
  const TensorView w = ck.view("layers.2.ffn.experts.3.w2.weight");
  const auto v = dequant_all(w, &s);
  EXPECT_NEAR(stddev(v), 1 / std::sqrt(128.0), 0.12 / std::sqrt(128.0));
}

// flash/pro: the config is the real one (tests/data/configs, written from model-spec §1.1)
// truncated to N layers, and every planned tensor has the real dtype and shape.
void check_real_preset(const std::string& preset, int64_t layers) {
  SyntheticOptions o;
  o.preset = preset;
  o.layers = layers;
  const ModelConfig c = synthetic_config(o);
  const ModelConfig real = load_model_config(kData + "/configs/" + preset);
  auto a = model_config_to_json(c), b = model_config_to_json(real);
  for (const char* k : {"num_hidden_layers", "compress_ratios", "num_hash_layers"}) a.erase(k), b.erase(k);
  EXPECT_EQ(a, b) << preset;
  std::vector<int64_t> ratios(real.compress_ratios.begin(), real.compress_ratios.begin() + layers);
  ratios.push_back(0);
  EXPECT_EQ(c.compress_ratios, ratios);
  EXPECT_EQ(c.n_hash_layers, std::min<int64_t>(3, layers));
  std::map<std::string, ExpectedTensor> full;
  for (auto& e : model_inventory(real, {})) full.emplace(e.name, e);
  uint64_t total = 0;
  size_t n = 0;
  const auto plans = plan_shards(c, synthetic_formats(o));
  EXPECT_EQ(plans.size(), size_t(layers) + 2);
  for (const auto& p : plans) {
    total += p.bytes();
    for (const auto& s : p.specs) {
      ++n;
      auto it = full.find(s.name);
      if (it == full.end()) {  // every tensor of a truncated model exists in the full one
        ADD_FAILURE() << s.name;
        continue;
      }
      EXPECT_EQ(s.dtype, it->second.dtypes.front()) << s.name;
      EXPECT_EQ(s.shape, it->second.shape) << s.name;
    }
  }
  EXPECT_EQ(n, model_inventory(c, {}).size());
  // A Flash-shaped layer is ~3.6 GB (4.5 for Pro ~ 8.3 GB): the plan adds up to the inventory.
  EXPECT_GT(total, uint64_t(layers) * 3'000'000'000ull);
}

TEST(MakeModel, FlashAndProUseTheRealShapes) {
  check_real_preset("flash", 4);
  check_real_preset("pro", 3);
  check_real_preset("flash", 43);
}

TEST(MakeModel, BadRequestsAreClearErrors) {
  SyntheticOptions o;
  o.preset = "huge";
  EXPECT_THROW(synthetic_config(o), ModelError);
  o.preset = "flash";
  o.layers = 44;
  try {
    synthetic_config(o);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--layers 44 outside [1, 43]"));
  }
  const fs::path dir = out_dir("nonempty");
  fs::create_directories(dir);
  std::ofstream(dir / "keep.txt") << "x";
  try {
    write_synthetic_model({}, dir, false);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not empty"));
  }
}

TEST(MakeModel, CopiesTheTokenizer) {
  const fs::path src = out_dir("tok_src");
  fs::create_directories(src);
  std::ofstream(src / "tokenizer.json") << R"({"model": {}})";
  std::ofstream(src / "tokenizer_config.json") << R"({"add_bos_token": false})";
  SyntheticOptions o;
  o.tokenizer = src / "tokenizer.json";
  const fs::path dir = make("tok", o);
  EXPECT_EQ(file_bytes(dir / "tokenizer.json"), R"({"model": {}})");
  EXPECT_TRUE(fs::exists(dir / "tokenizer_config.json"));
}

#ifdef DSV4_SLOW_TESTS
// ~10 GB and ~30-60 s each: cmake -DDSV4_SLOW_TESTS=ON, then ctest -R Slow
TEST(MakeModelSlow, OneRealFlashAndProLayer) {
  for (const char* preset : {"flash", "pro"}) {
    SyntheticOptions o;
    o.preset = preset;
    o.layers = 1;
    const fs::path dir = make(std::string("slow_") + preset, o);
    EXPECT_TRUE(check_inventory(load_model_config(dir), Checkpoint::open(dir)).empty());
    fs::remove_all(dir);
  }
}
#endif

}  // namespace
}  // namespace dsv4
