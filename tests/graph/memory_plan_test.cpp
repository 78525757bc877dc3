// MemoryPlan: native cache entry sizes and the model-spec §7 arithmetic (Flash at 1M context),
// weights cross-checked against the inventory-derived parameter bytes.
#include <gtest/gtest.h>

#include "graph/memory_plan.h"
#include "weights/model_stats.h"
#include "weights/synthetic_model.h"

namespace dsv4::graph {
namespace {

ModelConfig preset(const std::string& name) {
  SyntheticOptions o;
  o.preset = name;
  return synthetic_config(o);
}

TEST(MemoryPlan, NativeEntrySizes) {
  const ModelConfig flash = preset("flash");
  EXPECT_EQ(kv_entry_bytes(flash), 584u);    // 448 e4m3 + 7 e8m0 + 64 bf16 = 583 -> 584
  EXPECT_EQ(index_entry_bytes(flash), 68u);  // 64 B of e2m1 + 4 e8m0
  const ModelConfig tiny = preset("tiny");   // nope 64: 64 + 1 + 128 = 193 -> 200; index 64: 32 + 2 -> 36
  EXPECT_EQ(kv_entry_bytes(tiny), 200u);
  EXPECT_EQ(index_entry_bytes(tiny), 36u);   // 4-aligned: the GPU reads entries as 32-bit words
}

TEST(MemoryPlan, FlashCachesAtOneMillionTokens) {
  const ModelConfig flash = preset("flash");
  const MemoryPlan p = plan_memory(flash, {}, {.max_context = 1048576, .batch_size = 1, .prefill_chunk = 512});
  // model-spec §7: 21 ratio-4 layers x ctx/4 x (584 + 68) + 20 ratio-128 layers x ctx/128 x 584.
  EXPECT_EQ(p.total(BufferKind::CompressedKv) + p.total(BufferKind::IndexKeys),
            21ull * 262144 * (584 + 68) + 20ull * 8192 * 584);
  EXPECT_EQ(p.total(BufferKind::CompressorState), 12206080u);  // §7.2 "fixed compressor state"
  EXPECT_EQ(p.total(BufferKind::WindowRing), 43ull * 128 * 584);
  EXPECT_EQ(p.total(BufferKind::Logits), 129280u * 4);
}

TEST(MemoryPlan, WeightsMatchTheInventoryBytes) {
  for (const char* name : {"tiny", "small", "flash"}) {
    const ModelConfig c = preset(name);
    const WeightFormats f{};
    const ParamStats s = param_stats(c, f);
    EXPECT_EQ(plan_memory(c, f, {}).total(BufferKind::Weights), s.bytes_main) << name;
    RunOptions with_mtp;
    with_mtp.with_mtp = true;
    EXPECT_EQ(plan_memory(c, f, with_mtp).total(BufferKind::Weights), s.bytes_main + s.bytes_mtp) << name;
  }
}

TEST(MemoryPlan, ScalesWithBatchAndContext) {
  const ModelConfig tiny = preset("tiny");
  const MemoryPlan one = plan_memory(tiny, {}, {.max_context = 64, .batch_size = 1, .prefill_chunk = 16});
  const MemoryPlan two = plan_memory(tiny, {}, {.max_context = 64, .batch_size = 2, .prefill_chunk = 16});
  EXPECT_EQ(two.total(BufferKind::WindowRing), 2 * one.total(BufferKind::WindowRing));
  EXPECT_EQ(two.total(BufferKind::CompressedKv), 2 * one.total(BufferKind::CompressedKv));
  // tiny: ratios 0, 4, 16, 4, 16 -> 2 x 64/4 + 2 x 64/16 = 40 entries of 200 B.
  EXPECT_EQ(one.total(BufferKind::CompressedKv), 40u * 200);
  EXPECT_EQ(one.total(BufferKind::IndexKeys), 2u * 16 * 36);
  EXPECT_EQ(two.total(BufferKind::Weights), one.total(BufferKind::Weights));
}

TEST(MemoryPlan, DescribeListsEveryBuffer) {
  const MemoryPlan p = plan_memory(preset("tiny"), {}, {});
  const std::string text = describe(p);
  EXPECT_NE(text.find("layers.1.index_keys"), std::string::npos);
  EXPECT_NE(text.find("compressed kv"), std::string::npos);
  EXPECT_NE(text.find("total"), std::string::npos);
}

TEST(MemoryPlan, RejectsNonPositiveOptions) {
  EXPECT_THROW(plan_memory(preset("tiny"), {}, {.max_context = 0, .batch_size = 1, .prefill_chunk = 1}),
               std::invalid_argument);
}

}  // namespace
}  // namespace dsv4::graph
