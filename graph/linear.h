// Linear layers of the reference (model-spec §4.2): one dispatch point on the weight's format,
// like model.py's linear(). Weights are held dequantised (exact: e4m3/e2m1 x power of two).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dsv4::graph {

enum class WeightFormat { FP8, FP4, BF16, F32 };

struct Weight {
  std::string name;
  WeightFormat format = WeightFormat::F32;
  int64_t rows = 0, cols = 0;  // [out, in]
  std::vector<float> values;   // rows x cols, dequantised
  std::span<const float> row(int64_t r) const { return {values.data() + r * cols, size_t(cols)}; }
  bool empty() const { return values.empty(); }
};

// model.py linear() on a bf16 input, bf16 output: FP8/FP4 weights quantise the input to e4m3 in
// 1x128 blocks and accumulate per weight block (128 for FP8, 32 for FP4) in fp32; BF16/F32 weights
// run a plain fp32-accumulate GEMV.
void linear(const Weight& w, std::span<const float> x, std::span<float> out);

// fp32 math over the weight's values, fp32 output (compressor wkv/wgate, router gate, head).
void linear_fp32(const Weight& w, std::span<const float> x, std::span<float> out);

}  // namespace dsv4::graph
