// The Builder's op list as data: ops per layer kind, named after the model's modules, ordered so
// that every per-step buffer is written before it is read and the window ring is written only
// after attention read it.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "graph/builder.h"
#include "weights/synthetic_model.h"

namespace dsv4::graph {
namespace {

ModelConfig tiny() {
  SyntheticOptions o;
  o.preset = "tiny";
  return synthetic_config(o);  // ratios 0, 4, 16, 4, 16 (+ 0 for MTP), 1 hash layer
}

int64_t count(const OpList& l, OpKind k, int64_t layer) {
  return std::count_if(l.ops.begin(), l.ops.end(), [&](const Op& o) { return o.kind == k && o.layer == layer; });
}

const Op* find(const OpList& l, const std::string& name, OpKind k) {
  for (const Op& o : l.ops)
    if (o.name == name && o.kind == k) return &o;
  return nullptr;
}

TEST(Builder, OpsPerLayerKind) {
  const OpList l = build_step(tiny(), StepKind::Decode);
  EXPECT_EQ(l.ops.front().kind, OpKind::Embed);
  EXPECT_EQ(l.ops.back().kind, OpKind::Head);
  for (int64_t i = 0; i < 5; ++i) {
    const int64_t ratio = tiny().ratio(i);
    EXPECT_EQ(count(l, OpKind::Compressor, i), ratio == 0 ? 0 : ratio == 4 ? 2 : 1) << i;
    EXPECT_EQ(count(l, OpKind::IndexerTopk, i), ratio == 4 ? 1 : 0) << i;
    EXPECT_EQ(count(l, OpKind::HcPre, i), 2);
    EXPECT_EQ(count(l, OpKind::HcPost, i), 2);
    EXPECT_EQ(count(l, OpKind::SparseAttention, i), 1);
    EXPECT_EQ(count(l, OpKind::Moe, i), 1);
  }
  EXPECT_EQ(l.ops.size(), 1u + 13 + 17 + 14 + 17 + 14 + 3);
}

TEST(Builder, OpsAreNamedAfterModules) {
  const OpList l = build_step(tiny(), StepKind::Prefill);
  EXPECT_NE(find(l, "layers.1.attn.indexer.compressor", OpKind::Compressor), nullptr);
  EXPECT_NE(find(l, "layers.2.attn.compressor", OpKind::Compressor), nullptr);
  EXPECT_EQ(find(l, "layers.2.attn.indexer.compressor", OpKind::Compressor), nullptr);
  EXPECT_NE(find(l, "layers.0.hc_attn", OpKind::HcPre), nullptr);
  EXPECT_NE(find(l, "layers.4.ffn.gate", OpKind::Gate), nullptr);
  EXPECT_NE(find(l, "hc_head", OpKind::HcHead), nullptr);
}

TEST(Builder, BuffersAreWrittenBeforeReadAndRingAfterAttention) {
  for (StepKind kind : {StepKind::Decode, StepKind::Prefill}) {
    const OpList l = build_step(tiny(), kind);
    std::set<std::string> written;
    for (const Op& op : l.ops) {
      for (const std::string& r : op.reads) {
        const bool persistent = r.rfind("layers.", 0) == 0;  // per-sequence caches and states
        EXPECT_TRUE(persistent || written.count(r)) << op.name << " reads " << r << " before any op wrote it";
      }
      written.insert(op.writes.begin(), op.writes.end());
    }
    for (int64_t i = 0; i < 5; ++i) {
      size_t attn = 0, ring = 0;
      for (size_t j = 0; j < l.ops.size(); ++j) {
        if (l.ops[j].layer != i) continue;
        if (l.ops[j].kind == OpKind::SparseAttention) attn = j;
        if (l.ops[j].kind == OpKind::WindowWrite) ring = j;
      }
      EXPECT_LT(attn, ring) << "layer " << i;
    }
  }
}

TEST(Builder, MtpStepIsOneRatio0BlockWithItsOwnHead) {
  const ModelConfig c = tiny();
  const OpList l = build_mtp_step(c, 0);
  EXPECT_EQ(l.ops.front().kind, OpKind::MtpInput);
  EXPECT_EQ(l.ops.front().name, "mtp.0");
  EXPECT_EQ(count(l, OpKind::Compressor, c.n_layers), 0);
  EXPECT_NE(find(l, "mtp.0.hc_head", OpKind::HcHead), nullptr);
  EXPECT_NE(find(l, "mtp.0.norm", OpKind::RmsNorm), nullptr);
  EXPECT_NE(l.describe().find("mtp_input mtp.0 (mtp_hidden) -> (hc)"), std::string::npos);
}

}  // namespace
}  // namespace dsv4::graph
