// The cooperative-matrix GEMM path of encode_linear (linear.h, LinearPath::GemmCoopmat): FP8
// weights with act_quant and bf16 output on devices with NV fp16 16x16x16 coopmats.
//
// With LinearArgs::scratch of >= gemm_coopmat_scratch_bytes (and 128-row aligned groups): an
// act_quant dispatch writes the activations as exact fp16 into the scratch
// (shaders/linear/gemm_coopmat_quant.comp), then a 128x128-tiled, double-buffered GEMM
// (gemm_coopmat_tiled.comp). Otherwise the untiled kernel that quantises in each workgroup
// (gemm_coopmat.comp, 64x64 tiles; slow, kept for callers without scratch).
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "graph/vulkan/linear.h"
#include "vk/recording.h"

namespace dsv4::gpu {

// Appends the GemmCoopmat dispatches; `a` passed encode_linear's argument checks. Throws
// std::invalid_argument where the path cannot serve `a` (see encode_linear).
void encode_gemm_coopmat(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out);

// Scratch bytes the tiled GEMM needs for `a` (0 where it cannot serve `a`: then the untiled
// kernel runs without scratch). Sections, each rounded up to 256 bytes: fp16 activations
// [max_rows * groups, K rounded up to 32], (E, wide) int pairs per virtual row, one int per
// virtual row and 128-column block.
uint64_t gemm_coopmat_scratch_bytes(const Context& ctx, const LinearArgs& a);

}  // namespace dsv4::gpu
