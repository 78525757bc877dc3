// Minimal NPY (format 1.0) for float32 C-order 2-D arrays: what `dsv4 eval --dump-logits` writes
// and what the fixtures' expected logits are.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace dsv4::graph {

struct NpyArray {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;  // rows x cols
};

// Throws std::runtime_error naming the file when it cannot be written.
void write_npy(const std::filesystem::path& path, const NpyArray& a);
// Reads a little-endian float32 ('<f4') 2-D C-order array; throws naming the file otherwise.
NpyArray read_npy(const std::filesystem::path& path);

}  // namespace dsv4::graph
