// Value checks on checkpoint bytes: NaN/Inf codes in weights and scales. Run by both loaders on
// the bytes they are already streaming, so a poisoned checkpoint fails on load with one line naming
// file, tensor and element instead of producing NaN logits later.
//
// The scanners test whole 64-bit words with integer bit tricks (an all-ones exponent field becomes
// a carry into the lane's top bit) and only fall back to per-element code for the word that hit,
// so a scan runs at memory speed. Each returns the index of the first non-finite element, or
// kAllFinite.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "weights/safetensors.h"

namespace dsv4 {

inline constexpr size_t kAllFinite = ~size_t(0);

size_t find_e4m3_nan(std::span<const std::byte> bytes);    // code & 0x7F == 0x7F (e4m3 has no Inf)
size_t find_e8m0_nan(std::span<const std::byte> bytes);    // code 0xFF
size_t find_bf16_nonfinite(std::span<const std::byte> bytes);  // exponent 0xFF: Inf or NaN
size_t find_f16_nonfinite(std::span<const std::byte> bytes);   // exponent 0x1F
size_t find_f32_nonfinite(std::span<const std::byte> bytes);   // exponent 0xFF

// The scanner for `dtype` over `bytes` (a whole number of elements). Integer dtypes and packed FP4
// (I8: every e2m1 code is a finite number, so there is nothing to find) always give kAllFinite.
size_t find_nonfinite(DType dtype, std::span<const std::byte> bytes);

// One-line description of element `index` of `bytes`, e.g. "is NaN (e4m3 code 0x7f)" or "is +Inf".
std::string describe_nonfinite(DType dtype, std::span<const std::byte> bytes, size_t index);

// Throws ModelError "<file>: tensor '<name>': element <first + i> is NaN (...)" when `bytes` (the
// elements of `t` starting at element `first`) holds a non-finite value.
void check_finite(const TensorInfo& t, std::span<const std::byte> bytes, uint64_t first = 0);

}  // namespace dsv4
