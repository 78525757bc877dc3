// The cooperative-matrix GEMM path of encode_linear (linear.h, LinearPath::GemmCoopmat): FP8
// weights with bf16 output on devices with fp16 16x16x16 coopmats; with act_quant, or without it
// (wo_a's unquantised bf16 input) where the tiled kernels serve the shape.
//
// With LinearArgs::scratch of >= gemm_coopmat_scratch_bytes (and 128-row aligned groups): an
// act_quant dispatch writes the activations as exact fp16 into the scratch
// (shaders/linear/gemm_coopmat_quant.comp), then a 128x128-tiled, double-buffered GEMM
// (gemm_coopmat_tiled.comp). Otherwise the untiled kernel that quantises in each workgroup
// (gemm_coopmat.comp, 64x64 tiles; slow, kept for callers without scratch).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/vulkan/context.h"
#include "graph/vulkan/linear.h"
#include "vk/device.h"
#include "vk/kernel.h"
#include "vk/recording.h"

namespace dsv4::gpu {

// Which cooperative-matrix extension the GEMM kernels use: KHR where the device has fp16 16x16x16
// -> fp32 KHR coopmats (AMD, Intel, Mesa, NVIDIA; the kernels are the build's KHR rewrite of the
// NV ones, shaders/CMakeLists.txt), else NV with that shape (older NVIDIA drivers), else none
// (the scalar GEMM). Both
// need subgroups of 32: the device's default, or one that subgroup-size control can require.
// DSV4_COOPMAT=nv|khr|off|auto narrows the choice, e.g. to run the KHR kernels on NVIDIA; an
// extension the device lacks gives None. Throws std::invalid_argument on any other value.
enum class CoopmatApi { None, Nv, Khr };
CoopmatApi linear_coopmat_api(const vk::Device& device);
const char* coopmat_api_name(CoopmatApi api);  // "none", "nv", "khr"

// Whether the GemmCoopmat kernels compute `a` (device and scratch aside): FP8 weights and bf16
// output, and without act_quant only in the tiled kernels' shapes.
bool coopmat_serves(const LinearArgs& a);

// The coopmat kernel `shader` (e.g. "linear/gemm_coopmat_tiled") on `api` (not None): the _khr
// module for KHR, and subgroups of 32 required where that is not the device's default.
vk::KernelDesc coopmat_kernel(const vk::Device& device, CoopmatApi api, const std::string& shader, uint32_t buffers,
                              uint32_t push_constant_bytes, std::vector<vk::SpecConstant> spec);

// The exact fp16 activations that gemm_coopmat_quant.comp writes for the tiled coopmat kernels
// (its comment has the format): `virtual_rows` rows of K columns, three 256-byte aligned sections.
struct CoopmatActLayout {
  uint64_t virtual_rows = 0, k = 0, kp = 0, blocks = 0;  // kp: K rounded up to 32; blocks: 128-column blocks
  uint64_t act_bytes = 0, info_bytes = 0, exp_bytes = 0;
  uint64_t total() const { return act_bytes + info_bytes + exp_bytes; }
};
CoopmatActLayout coopmat_act_layout(uint64_t virtual_rows, uint64_t K);
struct CoopmatActs {
  vk::BufferRange act, info, exps;  // fp16 [V, kp] | ivec2 (E, wide) [V] | int [V, blocks]
};
// The sections of `layout` in `scratch`, from its offset.
CoopmatActs coopmat_acts(vk::BufferRange scratch, const CoopmatActLayout& layout);
// Appends the quantiser: virtual row v = m * groups + g (step rows m < n_rows) is columns
// [g * K, (g + 1) * K) of fp32 row m of `x` (x_stride floats per row); K = layout.k, % 16 == 0,
// <= 32768. e4m3 false: the values as they are (no e4m3 rounding: wo_a's unquantised input).
void encode_coopmat_act_quant(Context& ctx, vk::BufferRange step, vk::BufferRange x, const CoopmatActLayout& layout,
                              const CoopmatActs& dst, uint32_t groups, uint32_t x_stride, const std::string& label,
                              std::vector<vk::Dispatch>& out, bool e4m3 = true);

// Appends the GemmCoopmat dispatches; `a` passed encode_linear's argument checks. Throws
// std::invalid_argument where the path cannot serve `a` (see encode_linear).
void encode_gemm_coopmat(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out);

// Scratch bytes the tiled GEMM needs for `a` (0 where it cannot serve `a`: then the untiled
// kernel runs without scratch). Sections, each rounded up to 256 bytes: fp16 activations
// [max_rows * groups, K rounded up to 32], (E, wide) int pairs per virtual row, one int per
// virtual row and 128-column block.
uint64_t gemm_coopmat_scratch_bytes(const Context& ctx, const LinearArgs& a);

}  // namespace dsv4::gpu
