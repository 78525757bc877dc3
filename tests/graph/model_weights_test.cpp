// Loading a model directory into the CPU reference: formats dispatched per tensor, and a
// checkpoint that does not match its config fails with one line naming the tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "graph/model_weights.h"
#include "graph/npy.h"
#include "weights/error.h"
#include "weights/formats.h"

namespace dsv4::graph {
namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(DSV4_TEST_DATA_DIR) / "tiny-a";

TEST(ModelWeights, TinyAFormatsAndShapes) {
  const ModelWeights w = load_model_weights(kDir);
  EXPECT_EQ(w.layers.size(), 5u);
  EXPECT_TRUE(w.mtp.empty());
  EXPECT_EQ(w.layers[1].attn.wq_a.format, WeightFormat::FP8);
  EXPECT_EQ(w.layers[1].ffn.experts[0].w1.format, WeightFormat::FP4);
  EXPECT_EQ(w.layers[1].ffn.shared.w1.format, WeightFormat::FP8);
  EXPECT_EQ(w.layers[1].attn.compressor.wkv.format, WeightFormat::BF16);
  EXPECT_TRUE(w.layers[1].attn.has_indexer);
  EXPECT_TRUE(w.layers[2].attn.has_compressor);
  EXPECT_FALSE(w.layers[2].attn.has_indexer);
  EXPECT_FALSE(w.layers[0].attn.has_compressor);
  EXPECT_EQ(w.layers[0].ffn.tid2eid.size(), 1024u * 2);
  EXPECT_TRUE(w.layers[0].ffn.bias.empty());
  EXPECT_EQ(w.layers[3].ffn.bias.size(), 8u);
  // Dequantised FP8 values are e4m3 x power of two: exactly representable in bf16.
  for (float v : w.layers[1].attn.wq_a.values) ASSERT_EQ(v, formats::round_bf16(v));
  EXPECT_EQ(load_model_weights(kDir, true).mtp.size(), 1u);
}

TEST(ModelWeights, ConfigMismatchNamesTheTensor) {
  const fs::path dir = fs::temp_directory_path() / ("dsv4_graph_weights_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kDir / "model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(kDir / "config.json"));
  cfg["q_lora_rank"] = 256;  // the file's wq_a is [128, 256]
  std::ofstream(dir / "config.json") << cfg.dump();
  try {
    load_model_weights(dir);
    ADD_FAILURE() << "expected a ModelError";
  } catch (const ModelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("layers.0.attn.wq_a.weight"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  fs::remove_all(dir);
}

TEST(Npy, WritesVersion1HeaderAndRoundTrips) {
  const fs::path f = fs::temp_directory_path() / ("dsv4_graph_npy_" + std::to_string(::getpid()) + ".npy");
  write_npy(f, {2, 3, {1, 2, 3, 4, 5, -6.5f}});
  std::ifstream in(f, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 128u + 6 * 4);  // header padded to 64 bytes multiple: 128
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(bytes.find("'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), std::string::npos);
  EXPECT_EQ(bytes[127], '\n');
  const NpyArray a = read_npy(f);
  EXPECT_EQ(a.rows, 2);
  EXPECT_EQ(a.cols, 3);
  EXPECT_EQ(a.data, (std::vector<float>{1, 2, 3, 4, 5, -6.5f}));
  fs::remove(f);
  EXPECT_THROW(read_npy(f), std::runtime_error);
}

}  // namespace
}  // namespace dsv4::graph
