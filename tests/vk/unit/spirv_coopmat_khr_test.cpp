// vk/spirv_coopmat_khr.h on the real NV kernels the build compiles (shaders/linear/*coopmat*):
// what the KHR form must say is derived here from the NV module instruction by instruction (the
// SPV_KHR_cooperative_matrix encoding: a use on each type, an integer layout before the stride),
// and malformed or ambiguous modules must be refused. Runs without a GPU.
#include "vk/spirv_coopmat_khr.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "embedded_shaders.h"

namespace dsv4::vk {
namespace {

struct Ins {
  uint32_t op;
  std::vector<uint32_t> w;  // all words, w[0] the header
};

std::vector<Ins> instructions(const std::vector<uint32_t>& m) {
  std::vector<Ins> out;
  for (size_t at = 5; at < m.size();) {
    const uint32_t n = m[at] >> 16;
    EXPECT_GT(n, 0u);
    if (n == 0) break;
    out.push_back({m[at] & 0xffffu, {m.begin() + long(at), m.begin() + long(at + n)}});
    at += n;
  }
  return out;
}

std::vector<uint32_t> module(const char* name) {
  const shaders::Spirv* s = shaders::find(name);
  EXPECT_NE(s, nullptr) << name;
  if (!s) return {};
  return {s->words, s->words + s->word_count};
}

std::string literal(const std::vector<uint32_t>& w, size_t from) {
  std::string s;
  for (size_t i = from; i < w.size(); ++i)
    for (int b = 0; b < 4; ++b) {
      const char c = char((w[i] >> (8 * b)) & 0xff);
      if (!c) return s;
      s.push_back(c);
    }
  return s;
}

constexpr uint32_t kOpDecorate = 71, kDecorationSpecId = 1;

class CoopmatKhrRewrite : public ::testing::TestWithParam<const char*> {};

// The rewrite of each NV kernel, checked against the NV module.
TEST_P(CoopmatKhrRewrite, EncodesTheSameKernelOnKhrCooperativeMatrices) {
  const std::vector<uint32_t> nv = module(GetParam());
  ASSERT_FALSE(nv.empty());
  const std::vector<uint32_t> khr = coopmat_nv_to_khr(nv);
  // The build embeds the same rewrite as <name>_khr.
  EXPECT_EQ(khr, module((std::string(GetParam()) + "_khr").c_str()));
  ASSERT_EQ(khr[3], nv[3] + 3) << "three new constants";
  const std::vector<Ins> a = instructions(nv), b = instructions(khr);
  ASSERT_EQ(b.size(), a.size() + 3);

  // Integer constants of the KHR module (id -> value), the spec constant K (SpecId 20) and booleans.
  std::map<uint32_t, uint32_t> ints;
  std::map<uint32_t, bool> bools;
  uint32_t k_spec = 0;
  for (const Ins& i : b) {
    if (i.op == spv::kOpConstant && i.w.size() == 4) ints[i.w[2]] = i.w[3];
    if (i.op == spv::kOpConstantTrue || i.op == spv::kOpConstantFalse) bools[i.w[2]] = i.op == spv::kOpConstantTrue;
    if (i.op == kOpDecorate && i.w.size() == 4 && i.w[2] == kDecorationSpecId && i.w[3] == 20) k_spec = i.w[1];
  }
  ASSERT_NE(k_spec, 0u) << "shaders/common/coopmat.glsl's COOPMAT_K";

  // Walk both modules in step (the KHR one has the three constants extra, after an OpTypeInt).
  std::map<uint32_t, uint32_t> use;  // KHR type -> use value
  size_t j = 0, types = 0, loads = 0, stores = 0, muladds = 0;
  bool capability = false, extension = false;
  for (const Ins& i : a) {
    ASSERT_LT(j, b.size());
    const Ins& o = b[j++];
    if (i.op == spv::kOpTypeInt && i.w[2] == 32 && j < b.size() && b[j].op == spv::kOpConstant && b[j].w[1] == i.w[1] &&
        b[j].w[2] >= nv[3]) {
      j += 3;  // the inserted constants 0, 1, 2
    }
    switch (i.op) {
      case spv::kOpCapability:
        if (i.w[1] == spv::kCapabilityCooperativeMatrixNV) {
          EXPECT_EQ(o.w[1], spv::kCapabilityCooperativeMatrixKHR);
          capability = true;
        } else {
          EXPECT_EQ(o.w, i.w);
        }
        break;
      case spv::kOpExtension:
        if (literal(i.w, 1) == "SPV_NV_cooperative_matrix") {
          EXPECT_EQ(literal(o.w, 1), "SPV_KHR_cooperative_matrix");
          extension = true;
        } else {
          EXPECT_EQ(o.w, i.w);
        }
        break;
      case spv::kOpTypeCooperativeMatrixNV: {
        ASSERT_EQ(o.op, spv::kOpTypeCooperativeMatrixKHR);
        ASSERT_EQ(o.w.size(), 7u);
        EXPECT_EQ(std::vector<uint32_t>(o.w.begin() + 1, o.w.begin() + 6), std::vector<uint32_t>(i.w.begin() + 1, i.w.end()));
        ASSERT_TRUE(ints.count(o.w[6])) << "use is a constant";
        // Expected use from the shape: 16 x K is A, K x 16 is B, fp32 16 x 16 the accumulator.
        const uint32_t expect = i.w[5] == k_spec ? 0u : i.w[4] == k_spec ? 1u : 2u;
        EXPECT_EQ(ints[o.w[6]], expect) << "type %" << i.w[1];
        use[o.w[1]] = ints[o.w[6]];
        ++types;
        break;
      }
      case spv::kOpCooperativeMatrixLoadNV:  // -> type, result, pointer, layout, stride, memory operands
        ASSERT_EQ(o.op, spv::kOpCooperativeMatrixLoadKHR);
        ASSERT_EQ(o.w.size(), i.w.size());
        EXPECT_EQ(std::vector<uint32_t>(o.w.begin() + 1, o.w.begin() + 4), std::vector<uint32_t>(i.w.begin() + 1, i.w.begin() + 4));
        EXPECT_EQ(o.w[5], i.w[4]) << "stride";
        ASSERT_TRUE(ints.count(o.w[4]) && bools.count(i.w[5]));
        EXPECT_EQ(ints[o.w[4]], bools[i.w[5]] ? 1u : 0u) << "ColumnMajorKHR = 1, RowMajorKHR = 0";
        EXPECT_EQ(std::vector<uint32_t>(o.w.begin() + 6, o.w.end()), std::vector<uint32_t>(i.w.begin() + 6, i.w.end()));
        ++loads;
        break;
      case spv::kOpCooperativeMatrixStoreNV:  // -> pointer, object, layout, stride, memory operands
        ASSERT_EQ(o.op, spv::kOpCooperativeMatrixStoreKHR);
        ASSERT_EQ(o.w.size(), i.w.size());
        EXPECT_EQ(o.w[1], i.w[1]);
        EXPECT_EQ(o.w[2], i.w[2]);
        EXPECT_EQ(o.w[4], i.w[3]) << "stride";
        ASSERT_TRUE(ints.count(o.w[3]) && bools.count(i.w[4]));
        EXPECT_EQ(ints[o.w[3]], bools[i.w[4]] ? 1u : 0u);
        ++stores;
        break;
      case spv::kOpCooperativeMatrixMulAddNV:
        EXPECT_EQ(o.op, spv::kOpCooperativeMatrixMulAddKHR);
        EXPECT_EQ(std::vector<uint32_t>(o.w.begin() + 1, o.w.end()), std::vector<uint32_t>(i.w.begin() + 1, i.w.end()));
        EXPECT_EQ(use[o.w[1]], 2u) << "the result is an accumulator";
        ++muladds;
        break;
      default: EXPECT_EQ(o.w, i.w) << "opcode " << i.op << " passes through unchanged";
    }
  }
  EXPECT_TRUE(capability);
  EXPECT_TRUE(extension);
  EXPECT_EQ(types, 3u);
  EXPECT_GT(muladds, 0u);
  EXPECT_GT(loads + stores, 0u);
  for (const Ins& o : b) {
    EXPECT_FALSE(o.op >= spv::kOpTypeCooperativeMatrixNV && o.op <= spv::kOpCooperativeMatrixLengthNV) << "NV opcode left";
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, CoopmatKhrRewrite,
                         ::testing::Values("linear/coopmat_peak", "linear/gemm_coopmat", "linear/gemm_coopmat_tiled"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           std::string s = i.param;
                           return s.substr(s.find('/') + 1);
                         });

TEST(CoopmatKhrRewriteErrors, ModuleWithoutCooperativeMatricesIsUnchanged) {
  const std::vector<uint32_t> m = module("norm/rms_norm");
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(coopmat_nv_to_khr(m), m);
}

// Multiplying a matrix by itself uses one type as A and as B: KHR cannot express that.
TEST(CoopmatKhrRewriteErrors, TypeUsedAsAAndBIsRefused) {
  std::vector<uint32_t> m = module("linear/coopmat_peak");
  bool patched = false;
  for (size_t at = 5; at < m.size(); at += m[at] >> 16) {
    if ((m[at] & 0xffffu) == spv::kOpCooperativeMatrixMulAddNV) {
      m[at + 4] = m[at + 3];  // B := A
      patched = true;
      break;
    }
  }
  ASSERT_TRUE(patched);
  try {
    coopmat_nv_to_khr(m);
    FAIL() << "accepted";
  } catch (const SpirvRewriteError& e) {
    EXPECT_NE(std::string(e.what()).find("used as A and as B"), std::string::npos) << e.what();
  }
}

TEST(CoopmatKhrRewriteErrors, NonConstantLayoutIsRefused) {
  std::vector<uint32_t> m = module("linear/gemm_coopmat_tiled");
  for (size_t at = 5; at < m.size(); at += m[at] >> 16) {
    if ((m[at] & 0xffffu) == spv::kOpCooperativeMatrixLoadNV) {
      m[at + 5] = m[at + 4];  // column-major flag := the stride (an integer)
      break;
    }
  }
  EXPECT_THROW(coopmat_nv_to_khr(m), SpirvRewriteError);
}

TEST(CoopmatKhrRewriteErrors, MalformedModulesAreRefused) {
  const std::vector<uint32_t> good = module("linear/coopmat_peak");
  ASSERT_GT(good.size(), 40u);
  std::vector<uint32_t> m = good;
  m[0] = 0x12345678;  // magic
  EXPECT_THROW(coopmat_nv_to_khr(m), SpirvRewriteError);
  m = good;
  m.back() = (2u << 16) | (m.back() & 0xffffu);  // the last instruction runs past the end
  EXPECT_THROW(coopmat_nv_to_khr(m), SpirvRewriteError);
  m = good;
  m[5] &= 0xffffu;  // a zero word count
  EXPECT_THROW(coopmat_nv_to_khr(m), SpirvRewriteError);
  EXPECT_THROW(coopmat_nv_to_khr(std::vector<uint32_t>{spv::kMagic, 0x10000}), SpirvRewriteError);
}

}  // namespace
}  // namespace dsv4::vk
