// Block dequantisation: hand-built tensors crossing block borders, and tensors of the tiny-a
// fixture whose sums were computed by an independent Python decoder of the file (stdlib only,
// from the definitions of model-spec §2.3).
#include "weights/dequant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "weights/error.h"
#include "weights/formats.h"

namespace dsv4 {
namespace {

TensorView view_of(DType t, std::vector<int64_t> shape, const std::vector<uint8_t>& bytes) {
  return {t, std::move(shape), std::as_bytes(std::span(bytes.data(), bytes.size()))};
}

TEST(Dequant, Fp8BlocksCrossBordersE8M0AndF32Scales) {
  // [130, 260]: 2 x 3 scale blocks, the last ones partial.
  std::vector<uint8_t> q(130 * 260, 0x38);  // 1.0 everywhere
  q[0] = 0x40;                              // 2.0 at [0, 0]
  q[129 * 260 + 259] = 0xb0;                // -0.5 at [129, 259]
  q[127 * 260 + 128] = 0x01;                // 2^-9 at [127, 128]
  const std::vector<uint8_t> s8 = {127, 128, 129, 126, 125, 130};  // 1, 2, 4 / 0.5, 0.25, 8
  std::vector<uint8_t> s32(6 * 4);
  const float f32[6] = {1.f, 2.f, 4.f, 0.5f, 0.25f, 3.f};  // F32 scales need not be powers of two
  std::memcpy(s32.data(), f32, sizeof f32);
  const TensorView w = view_of(DType::F8_E4M3, {130, 260}, q);
  for (const TensorView& s : {view_of(DType::F8_E8M0, {2, 3}, s8), view_of(DType::F32, {2, 3}, s32)}) {
    const bool e8 = s.dtype == DType::F8_E8M0;
    const std::vector<float> out = dequant_all(w, &s);
    ASSERT_EQ(out.size(), 130u * 260);
    EXPECT_EQ(out[0], 2.f);
    EXPECT_EQ(out[1 * 260 + 256], 4.f);                        // block (0, 2)
    EXPECT_EQ(out[127 * 260 + 128], 0x1p-9f * 2);              // block (0, 1)
    EXPECT_EQ(out[128 * 260 + 0], 0.5f);                       // block (1, 0)
    EXPECT_EQ(out[129 * 260 + 259], -0.5f * (e8 ? 8.f : 3.f));  // block (1, 2)
    std::vector<float> rows(2 * 260);
    dequant_fp8_rows(w, s, 128, 2, rows.data());
    EXPECT_EQ(rows[260 + 259], out[129 * 260 + 259]);
  }
}

TEST(Dequant, Fp4LowNibbleFirstPer32Scales) {
  // [2, 64] logical: 2 rows x 32 bytes, scales [2, 2].
  std::vector<uint8_t> q(2 * 32, 0);
  q[0] = 0x21;   // elements 0, 1 = codes 1 (0.5), 2 (1.0)
  q[16] = 0x9f;  // elements 32, 33 = codes 15 (-6), 9 (-0.5)
  q[63] = 0x70;  // row 1 elements 62, 63 = codes 0, 7 (6)
  const std::vector<uint8_t> s = {127, 129, 126, 131};  // row 0: 1, 4; row 1: 0.5, 16
  const TensorView scale = view_of(DType::F8_E8M0, {2, 2}, s);
  const std::vector<float> out = dequant_all(view_of(DType::I8, {2, 32}, q), &scale);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[1], 1.f);
  EXPECT_EQ(out[32], -24.f);
  EXPECT_EQ(out[33], -2.f);
  EXPECT_EQ(out[64 + 62], 0.f);
  EXPECT_EQ(out[64 + 63], 96.f);
}

TEST(Dequant, FloatsAndIntegers) {
  std::vector<uint8_t> b = {0x80, 0x3f, 0x00, 0xc0};  // bf16 1.0, -2.0
  std::vector<float> out(2);
  to_float_rows(view_of(DType::BF16, {2}, b), 0, 1, out.data());
  EXPECT_EQ(out[0], 1.f);
  EXPECT_EQ(out[1], -2.f);
  std::vector<uint8_t> h = {0x00, 0x3c, 0x00, 0xbc};  // f16 1.0, -1.0 as [2, 1]
  to_float_rows(view_of(DType::F16, {2, 1}, h), 1, 1, out.data());
  EXPECT_EQ(out[0], -1.f);
  std::vector<uint8_t> i64(16, 0);
  i64[0] = 5;
  i64[8] = 0xff, std::memset(&i64[9], 0xff, 7);  // -1
  EXPECT_EQ(to_int64(view_of(DType::I64, {2}, i64)), (std::vector<int64_t>{5, -1}));
}

TEST(Dequant, RejectsMismatchedInputs) {
  std::vector<uint8_t> q(256 * 128, 0x38), s(2, 127);
  const TensorView w = view_of(DType::F8_E4M3, {256, 128}, q);
  EXPECT_THROW(dequant_all(w, nullptr), ModelError);
  const TensorView bad_shape = view_of(DType::F8_E8M0, {1, 2}, s);
  EXPECT_THROW(dequant_all(w, &bad_shape), ModelError);
  const TensorView bad_type = view_of(DType::BF16, {2, 1}, std::vector<uint8_t>(4));
  EXPECT_THROW(dequant_all(w, &bad_type), ModelError);
  std::vector<float> out(128);
  const TensorView ok = view_of(DType::F8_E8M0, {2, 1}, s);
  EXPECT_THROW(dequant_fp8_rows(w, ok, 256, 1, out.data()), ModelError);
  const TensorView short_data = view_of(DType::F8_E4M3, {256, 129}, q);
  EXPECT_THROW(dequant_all(short_data, &ok), ModelError);
  EXPECT_THROW(to_int64(w), ModelError);
}

struct Expected {
  const char* name;
  double sum, sumsq, last, second;
};

TEST(Dequant, FixtureTensorsMatchAnIndependentDecoder) {
  const Checkpoint c = Checkpoint::open(std::string(DSV4_TEST_DATA_DIR) + "/tiny-a");
  const Expected cases[] = {
      {"layers.2.attn.wq_b", 0.1291065216064453, 513.2623360045945, -0.05078125, -0.0078125},
      {"layers.1.attn.wo_a", 1.1628360748291016, 127.41528147997815, -0.0859375, -0.1875},
      {"layers.3.ffn.experts.5.w2", -11.609375, 273.412841796875, 0.046875, -0.0625},
      {"mtp.0.ffn.experts.7.w1", 9.625, 2677.4681396484375, 1.5, -0.03125},
  };
  for (const auto& e : cases) {
    const TensorView w = c.view(std::string(e.name) + ".weight");
    const TensorView s = c.view(std::string(e.name) + ".scale");
    const std::vector<float> v = dequant_all(w, &s);
    double sum = 0, sumsq = 0;
    for (float x : v) sum += x, sumsq += double(x) * x;
    EXPECT_NEAR(sum, e.sum, 1e-9 * std::max(1.0, std::fabs(e.sum))) << e.name;
    EXPECT_NEAR(sumsq, e.sumsq, 1e-9 * e.sumsq) << e.name;
    EXPECT_EQ(v.back(), e.last) << e.name;
    EXPECT_EQ(v[1], e.second) << e.name;
  }
}

}  // namespace
}  // namespace dsv4
