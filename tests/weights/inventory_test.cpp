// The tensor inventory against independent numbers: the published fixture (written by another
// implementation), the tensor counts and shapes of model-spec §2.4 (67,612 + 1,575 for Flash),
// and every kind of mismatch reported at once.
#include "weights/inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "weights/error.h"
#include "weights/model_dir.h"
#include "weights/safetensors_writer.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = DSV4_TEST_DATA_DIR;

std::map<std::string, ExpectedTensor> by_name(const std::vector<ExpectedTensor>& inv) {
  std::map<std::string, ExpectedTensor> m;
  for (const auto& e : inv) m.emplace(e.name, e);
  return m;
}

void expect_tensor(const std::map<std::string, ExpectedTensor>& m, const std::string& name, DType t,
                   std::vector<int64_t> shape) {
  auto it = m.find(name);
  ASSERT_NE(it, m.end()) << name;
  EXPECT_EQ(it->second.dtypes.front(), t) << name;
  EXPECT_EQ(it->second.shape, shape) << name;
}

TEST(Inventory, TinyAFixtureMatchesExactly) {
  const ModelConfig c = load_model_config(kData + "/tiny-a");
  const Checkpoint ck = Checkpoint::open(kData + "/tiny-a");
  const auto mismatches = check_inventory(c, ck);
  for (const auto& m : mismatches) ADD_FAILURE() << m.to_string();
  EXPECT_EQ(model_inventory(c, {}).size(), ck.tensors().size());
  EXPECT_NO_THROW(require_inventory(c, ck));
}

TEST(Inventory, FlashCountsAndShapesOfTheSpecTable) {
  const ModelConfig c = load_model_config(kData + "/configs/flash");
  const auto inv = model_inventory(c, {});
  size_t main = 0, mtp = 0;
  for (const auto& e : inv) (e.name.starts_with("mtp.") ? mtp : main)++;
  EXPECT_EQ(main, 67612u);
  EXPECT_EQ(mtp, 1575u);
  const auto m = by_name(inv);
  expect_tensor(m, "embed.weight", DType::BF16, {129280, 4096});
  expect_tensor(m, "hc_head_fn", DType::F32, {4, 16384});
  expect_tensor(m, "layers.0.hc_attn_fn", DType::F32, {24, 16384});
  expect_tensor(m, "layers.0.hc_ffn_scale", DType::F32, {3});
  expect_tensor(m, "layers.5.attn.wq_a.weight", DType::F8_E4M3, {1024, 4096});
  expect_tensor(m, "layers.5.attn.wq_a.scale", DType::F8_E8M0, {8, 32});
  expect_tensor(m, "layers.5.attn.wq_b.scale", DType::F8_E8M0, {256, 8});
  expect_tensor(m, "layers.5.attn.wo_a.weight", DType::F8_E4M3, {8192, 4096});
  expect_tensor(m, "layers.5.attn.wo_b.scale", DType::F8_E8M0, {32, 64});
  expect_tensor(m, "layers.5.attn.attn_sink", DType::F32, {64});
  expect_tensor(m, "layers.2.attn.compressor.wkv.weight", DType::BF16, {1024, 4096});
  expect_tensor(m, "layers.2.attn.compressor.ape", DType::F32, {4, 1024});
  expect_tensor(m, "layers.2.attn.indexer.wq_b.weight", DType::F8_E4M3, {8192, 1024});
  expect_tensor(m, "layers.2.attn.indexer.compressor.ape", DType::F32, {4, 256});
  expect_tensor(m, "layers.2.attn.indexer.compressor.norm.weight", DType::BF16, {128});
  expect_tensor(m, "layers.3.attn.compressor.wgate.weight", DType::BF16, {512, 4096});
  expect_tensor(m, "layers.3.attn.compressor.ape", DType::F32, {128, 512});
  EXPECT_FALSE(m.count("layers.3.attn.indexer.wq_b.weight"));
  EXPECT_FALSE(m.count("layers.1.attn.compressor.ape"));
  expect_tensor(m, "layers.2.ffn.gate.tid2eid", DType::I64, {129280, 6});
  EXPECT_FALSE(m.count("layers.2.ffn.gate.bias"));
  expect_tensor(m, "layers.3.ffn.gate.bias", DType::F32, {256});
  expect_tensor(m, "layers.7.ffn.shared_experts.w2.scale", DType::F8_E8M0, {32, 16});
  expect_tensor(m, "layers.7.ffn.experts.255.w1.weight", DType::I8, {2048, 2048});
  expect_tensor(m, "layers.7.ffn.experts.255.w1.scale", DType::F8_E8M0, {2048, 128});
  expect_tensor(m, "layers.7.ffn.experts.0.w2.weight", DType::I8, {4096, 1024});
  expect_tensor(m, "layers.7.ffn.experts.0.w2.scale", DType::F8_E8M0, {4096, 64});
  expect_tensor(m, "mtp.0.e_proj.scale", DType::F8_E8M0, {32, 32});
  expect_tensor(m, "mtp.0.ffn.gate.bias", DType::F32, {256});
  expect_tensor(m, "mtp.0.hc_head_scale", DType::F32, {1});
  EXPECT_FALSE(m.count("mtp.0.attn.compressor.ape"));
}

TEST(Inventory, ProShapesFollowTheFormulas) {
  const auto m = by_name(model_inventory(load_model_config(kData + "/configs/pro"), {}));
  expect_tensor(m, "layers.0.attn.compressor.ape", DType::F32, {128, 512});
  expect_tensor(m, "layers.0.attn.wq_b.weight", DType::F8_E4M3, {65536, 1536});
  expect_tensor(m, "layers.0.attn.wq_b.scale", DType::F8_E8M0, {512, 12});
  expect_tensor(m, "layers.0.attn.wo_a.weight", DType::F8_E4M3, {16384, 4096});
  expect_tensor(m, "layers.0.attn.wo_b.scale", DType::F8_E8M0, {56, 128});
  expect_tensor(m, "layers.4.ffn.experts.383.w1.weight", DType::I8, {3072, 3584});
  expect_tensor(m, "layers.4.ffn.experts.383.w1.scale", DType::F8_E8M0, {3072, 224});
  expect_tensor(m, "layers.4.ffn.experts.0.w2.scale", DType::F8_E8M0, {7168, 96});
  expect_tensor(m, "layers.60.hc_attn_fn", DType::F32, {24, 28672});
  expect_tensor(m, "layers.60.attn.indexer.wq_b.scale", DType::F8_E8M0, {64, 12});
  expect_tensor(m, "mtp.0.h_proj.scale", DType::F8_E8M0, {56, 56});
}

TEST(Inventory, BaseCheckpointFormats) {
  const ModelConfig c = load_model_config(kData + "/configs/flash");
  const auto m = by_name(model_inventory(c, {ExpertDtype::FP8, DType::F32}));
  expect_tensor(m, "layers.3.ffn.experts.9.w1.weight", DType::F8_E4M3, {2048, 4096});
  expect_tensor(m, "layers.3.ffn.experts.9.w1.scale", DType::F32, {16, 32});
  expect_tensor(m, "layers.3.ffn.experts.9.w2.scale", DType::F32, {32, 16});
  expect_tensor(m, "layers.3.attn.wq_a.scale", DType::F32, {8, 32});
}

// Rewrites tiny-a with edits, streaming tensor bytes from the original.
struct Edit {
  std::set<std::string> drop;
  std::map<std::string, TensorSpec> replace;  // name -> new spec (bytes zero-filled)
  std::vector<TensorSpec> add;
  nlohmann::json config_patch = nlohmann::json::object();
};

fs::path rewrite_tiny_a(const std::string& name, const Edit& edit) {
  const fs::path dir = fs::path(DSV4_BUILD_DIR) / "test_inventory" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ifstream in(kData + "/tiny-a/config.json");
  nlohmann::json cfg = nlohmann::json::parse(in);
  cfg.merge_patch(edit.config_patch);
  std::ofstream(dir / "config.json") << cfg.dump(2);
  const Checkpoint src = Checkpoint::open(kData + "/tiny-a");
  std::vector<TensorSpec> specs;
  std::vector<const TensorInfo*> sources;
  for (const auto& t : src.tensors()) {
    if (edit.drop.count(t.name)) continue;
    auto r = edit.replace.find(t.name);
    specs.push_back(r != edit.replace.end() ? r->second : TensorSpec{t.name, t.dtype, t.shape});
    sources.push_back(r != edit.replace.end() ? nullptr : &t);
  }
  for (const auto& a : edit.add) specs.push_back(a), sources.push_back(nullptr);
  SafetensorsWriter w(dir / "model.safetensors", specs);
  for (size_t i = 0; i < specs.size(); ++i) {
    if (sources[i]) {
      w.write(src.data(*sources[i]));
    } else {
      const std::vector<std::byte> zeros(specs[i].nbytes());
      w.write(zeros);
    }
  }
  w.finish();
  return dir;
}

TEST(Inventory, ReportsEveryMismatchAtOnce) {
  Edit e;
  e.drop = {"layers.2.attn.compressor.ape"};
  e.replace["layers.1.attn.attn_sink"] = {"layers.1.attn.attn_sink", DType::BF16, {4}};
  e.replace["layers.3.ffn.experts.2.w1.scale"] = {"layers.3.ffn.experts.2.w1.scale", DType::F8_E8M0, {128, 4}};
  e.add = {{"layers.9.attn.mystery", DType::F32, {2}}};
  const fs::path dir = rewrite_tiny_a("four", e);
  const ModelConfig c = load_model_config(dir);
  const Checkpoint ck = Checkpoint::open(dir);
  const auto m = check_inventory(c, ck);
  ASSERT_EQ(m.size(), 4u);
  std::map<std::string, InventoryMismatch> got;
  for (const auto& x : m) got.emplace(x.name, x);
  EXPECT_EQ(got.at("layers.2.attn.compressor.ape").found, "(missing)");
  EXPECT_EQ(got.at("layers.2.attn.compressor.ape").expected, "F32 [16, 128]");
  EXPECT_EQ(got.at("layers.1.attn.attn_sink").found, "BF16 [4]");
  EXPECT_EQ(got.at("layers.1.attn.attn_sink").expected, "F32 [4]");
  EXPECT_EQ(got.at("layers.3.ffn.experts.2.w1.scale").expected, "F8_E8M0 [128, 8]");
  EXPECT_EQ(got.at("layers.3.ffn.experts.2.w1.scale").file, (dir / "model.safetensors").string());
  EXPECT_THAT(got.at("layers.9.attn.mystery").expected, HasSubstr("absent"));
  try {
    require_inventory(c, ck);
    FAIL() << "accepted";
  } catch (const ModelError& err) {
    const std::string msg = err.what();
    EXPECT_THAT(msg, HasSubstr("4 tensor mismatches"));
    for (const auto& [name, x] : got) EXPECT_THAT(msg, HasSubstr(name));
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
}

TEST(Inventory, Tid2eidOutOfRange) {
  Edit e;
  e.replace["layers.0.ffn.gate.tid2eid"] = {"layers.0.ffn.gate.tid2eid", DType::I64, {1024, 2}};
  const fs::path dir = rewrite_tiny_a("tid2eid", e);  // zero ids: valid
  EXPECT_TRUE(check_inventory(load_model_config(dir), Checkpoint::open(dir)).empty());
  // write one bad id in place
  {
    const Checkpoint ck = Checkpoint::open(dir);
    const uint64_t off = ck.at("layers.0.ffn.gate.tid2eid").offset + 77 * 8;
    std::fstream f(dir / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(off));
    const int64_t bad = 8;  // n_routed_experts = 8
    f.write(reinterpret_cast<const char*>(&bad), 8);
  }
  const auto m = check_inventory(load_model_config(dir), Checkpoint::open(dir));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].found, "id 8 at entry 77");
}

TEST(Inventory, ExpertDtypeFromTheHeaderWhenTheConfigIsSilent) {
  // Base-style: experts FP8 with 128x128 F32 scales, FP8 linears with F32 scales, no expert_dtype key.
  const ModelConfig tiny = load_model_config(kData + "/tiny-a");
  Edit e;
  e.config_patch = {{"expert_dtype", nullptr}};
  for (const auto& t : model_inventory(tiny, {ExpertDtype::FP8, DType::F32}))
    if (t.expert >= 0 || t.is_scale) e.replace[t.name] = {t.name, t.dtypes.front(), t.shape};
  const fs::path dir = rewrite_tiny_a("base", e);
  const ModelConfig c = load_model_config(dir);
  EXPECT_FALSE(c.expert_dtype_explicit);
  const Checkpoint ck = Checkpoint::open(dir);
  EXPECT_EQ(infer_expert_dtype(c, ck), ExpertDtype::FP8);
  for (const auto& m : check_inventory(c, ck)) ADD_FAILURE() << m.to_string();
  // With "expert_dtype": "fp4" the same checkpoint is wrong in every expert tensor.
  ModelConfig fp4 = c;
  fp4.expert_dtype_explicit = true;
  EXPECT_EQ(check_inventory(fp4, ck).size(), size_t(6 * 8 * 6));
}

TEST(ModelDir, OpensTheFixtureAndRefusesABrokenOne) {
  const ModelDir m = open_model_dir(kData + "/tiny-a");
  EXPECT_EQ(m.config.n_layers, 5);
  EXPECT_EQ(m.checkpoint.tensors().size(), 508u);
  EXPECT_EQ(m.formats.experts, ExpertDtype::FP4);
  EXPECT_EQ(m.formats.fp8_scale, DType::F8_E8M0);
  Edit e;
  e.drop = {"head.weight"};
  EXPECT_THROW(open_model_dir(rewrite_tiny_a("broken", e)), ModelError);
}

}  // namespace
}  // namespace dsv4
