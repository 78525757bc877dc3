// info's arithmetic against the figures of model-spec §1.3 and §7.2 (computed there from the
// tensor table and the KV formula, independently of this code).
#include "weights/model_stats.h"

#include <gtest/gtest.h>

namespace dsv4 {
namespace {

const std::string kData = DSV4_TEST_DATA_DIR;

TEST(ModelStats, FlashParameters) {
  const ParamStats s = param_stats(load_model_config(kData + "/configs/flash"), {});
  EXPECT_NEAR(double(s.total) / 1e9, 284.33, 0.01);  // "284B"
  EXPECT_NEAR(double(s.mtp) / 1e9, 6.61, 0.01);
  EXPECT_NEAR(double(s.active) / 1e9, 13.3, 0.05);   // "13B"
  // Decode reads the active weights at ~1 byte (FP8) / ~0.53 byte (FP4 + scales) plus the bf16
  // head: between 10 and 13 GB (design.md §1: ~11.3 GB).
  EXPECT_GT(s.bytes_per_token, 10'000'000'000u);
  EXPECT_LT(s.bytes_per_token, 13'000'000'000u);
  EXPECT_GT(s.bytes_main, 140'000'000'000u);  // ~149-159 GB on disk with MTP (§2.1)
  EXPECT_LT(s.bytes_main + s.bytes_mtp, 170'000'000'000u);
}

TEST(ModelStats, ProParameters) {
  const ParamStats s = param_stats(load_model_config(kData + "/configs/pro"), {});
  EXPECT_NEAR(double(s.total) / 1e9, 1573.0, 0.1);
  EXPECT_NEAR(double(s.mtp) / 1e9, 25.8, 0.05);
  EXPECT_NEAR(double(s.active) / 1e9, 48.9, 0.1);  // "49B"
}

TEST(ModelStats, KvCacheMatchesSpecTable) {
  const KvStats f = kv_stats(load_model_config(kData + "/configs/flash"));
  EXPECT_EQ(f.entry_bytes, 584u);
  EXPECT_EQ(f.index_entry_bytes, 68u);
  EXPECT_DOUBLE_EQ(f.bytes_per_token, 21 * 652 / 4.0 + 20 * 584 / 128.0);  // 3,514 B
  EXPECT_EQ(f.window_bytes, 43u * 128 * 584);                             // 3.07 MiB
  EXPECT_EQ(f.state_bytes, 12'206'080u);
  EXPECT_EQ(f.compressed_at_ctx(1 << 20), 21ull * (1 << 18) * 652 + 20ull * (1 << 13) * 584);
  EXPECT_NEAR(double(f.compressed_at_ctx(1 << 20)) / double(1ull << 30), 3.43, 0.01);
  const KvStats p = kv_stats(load_model_config(kData + "/configs/pro"));
  EXPECT_NEAR(p.bytes_per_token, 5031.4, 0.1);
  EXPECT_EQ(p.state_bytes, 18'710'528u);
  EXPECT_NEAR(double(p.compressed_at_ctx(1 << 20)) / double(1ull << 30), 4.92, 0.01);
}

TEST(ModelStats, TinyAKvOfOtherRatios) {
  // nope 64 + 1 scale + rope 128 B = 193 -> 200; index keys 32 + 2 = 34 -> 36 B (4-aligned);
  // ratios 4, 16, 4, 16.
  const KvStats k = kv_stats(load_model_config(kData + "/tiny-a"));
  EXPECT_EQ(k.entry_bytes, 200u);
  EXPECT_EQ(k.index_entry_bytes, 36u);
  EXPECT_DOUBLE_EQ(k.bytes_per_token, 2 * 236 / 4.0 + 2 * 200 / 16.0);
  EXPECT_EQ(k.compressed_at_ctx(40), 2u * 10 * 236 + 2u * 2 * 200);
}

}  // namespace
}  // namespace dsv4
