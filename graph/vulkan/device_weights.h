// Weights on the device, in their checkpoint formats (design.md §5): nothing is dequantised.
//   FP8   e4m3 bytes [rows, cols] + fp32 block scales [ceil(rows/128), ceil(cols/128)]
//         (E8M0 scales of instruct checkpoints and F32 scales of Base ones both become fp32:
//         a 1/16384 overhead that gives every FP8 kernel one scale format)
//   FP4   packed e2m1 bytes [rows, cols/2], element 2j in the low nibble of byte j, + e8m0 bytes
//         [rows, cols/32] (kept as bytes: fp32 would add 25% to the expert bytes per token)
//   BF16  uint16 [rows, cols];  F32  float [rows, cols]
// A stack of `count` same-shaped matrices (routed experts of a layer) is one buffer with the
// matrices back to back (matrix_stride() bytes apart) and the same for scales.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "graph/linear.h"
#include "vk/memory.h"

namespace dsv4::gpu {

using graph::WeightFormat;

struct DeviceMatrix {
  std::string name;
  WeightFormat format = WeightFormat::F32;
  int64_t rows = 0, cols = 0;
  int64_t count = 1;        // matrices in the stack (experts), 1 otherwise
  vk::BufferRange data;     // count * data_stride() bytes
  vk::BufferRange scale;    // count * scale_stride() bytes (FP8, FP4); empty otherwise

  uint64_t data_stride() const;   // bytes of one matrix's values (padded to 16)
  uint64_t scale_stride() const;  // bytes of one matrix's scales (padded to 16)
};

// Unpadded byte counts of one matrix in the device layout above.
uint64_t data_bytes(WeightFormat f, int64_t rows, int64_t cols);
uint64_t scale_bytes(WeightFormat f, int64_t rows, int64_t cols);

}  // namespace dsv4::gpu
