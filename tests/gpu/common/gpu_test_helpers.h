// Shared pieces of the kernel-vs-reference tests: random weights in their native device formats
// together with the exact floats the CPU reference would hold, step buffers, and a fixture with a
// kernel cache on the validated test device.
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "common/vk_harness.h"
#include "graph/linear.h"
#include "graph/vulkan/context.h"
#include "graph/vulkan/device_weights.h"
#include "graph/vulkan/step.h"
#include "vk/recording.h"

namespace dsv4::test {

struct ScaleRange {  // e8m0 codes drawn uniformly from [lo, hi]
  uint8_t lo = 122, hi = 130;
  bool per_row = false;  // FP4: one draw per row, shared by its blocks (else one per block)
};

// A stack of `count` random matrices in device format and the reference's dequantised copies.
struct RandomMatrix {
  gpu::DeviceMatrix device;
  std::vector<graph::Weight> host;  // one per matrix of the stack
  vk::Buffer data, scale;           // keep the device copies alive
};

// FP8: uniform random e4m3 codes (no NaN); FP4: uniform random nibbles; BF16/F32: normal values
// with standard deviation `sd`.
RandomMatrix random_matrix(vk::Device& device, vk::StagingRing& staging, graph::WeightFormat format, int64_t rows,
                           int64_t cols, uint32_t seed, int64_t count = 1, ScaleRange scales = {}, float sd = 0.05f);

// Rounded-to-bf16 normal values (the reference's activations are bf16).
std::vector<float> random_bf16(size_t n, uint32_t seed, float sd = 1.0f);

// A step's two buffers (step descriptor + rope tables), uploaded.
struct StepBuffers {
  vk::Buffer step, rope;
  uint32_t max_rows = 0;
};
StepBuffers make_step(vk::Device& device, vk::StagingRing& staging, const std::vector<gpu::StepRow>& rows,
                      uint32_t max_rows, const gpu::RopeSlots& slots);

// Fixture: a kernel cache over the validated test device.
class GpuOpTest : public VulkanTest {
 protected:
  void SetUp() override;
  void TearDown() override;
  gpu::Context& ctx() { return *ctx_; }
  // Records `dispatches` once and runs them (validation messages fail the test in TearDown).
  void run(std::vector<vk::Dispatch> dispatches);
  vk::Buffer zeros(uint64_t bytes, const char* what = "output");

 private:
  std::unique_ptr<gpu::Context> ctx_;
};

// Relative error |a - b| / max(|b|, floor): the measure kernel tests bound.
float rel_err(float a, float b, float floor = 1e-3f);

}  // namespace dsv4::test
