// The quantisation round-trips of the official kernels (model-spec §4.2-4.5), on float rows whose
// values are the reference's bf16 values. Shared by the CPU executor and the kernel tests.
#pragma once
#include <cstdint>
#include <span>

namespace dsv4::graph {

// act_quant before an FP8/FP4 linear (§4.2): each block of `block` values is replaced by
// e4m3(x / s) * s with s the power-of-two ue8m0 scale. A short last block is its own block.
void act_quant_fp8(std::span<float> x, int64_t block = 128);

// In-place FP8 round-trip of KV nope dims (§4.3): like act_quant_fp8, result rounded to bf16.
void fp8_roundtrip(std::span<float> x, int64_t block = 64);

// In-place FP4 (e2m1) round-trip (§4.4): per `block` values, power-of-two scale, bf16 result.
void fp4_roundtrip(std::span<float> x, int64_t block = 32);

// Hadamard rotation (§4.5): x <- bf16(H_n x / sqrt(n)), Sylvester order; n a power of two.
void hadamard_rotate(std::span<float> x);

// Rounds every value to bf16 (round to nearest even).
void round_to_bf16(std::span<float> x);

}  // namespace dsv4::graph
