#include "graph/vulkan/device_weights.h"

#include <stdexcept>

namespace dsv4::gpu {

namespace {
uint64_t pad16(uint64_t b) { return (b + 15) / 16 * 16; }
}  // namespace

uint64_t data_bytes(WeightFormat f, int64_t rows, int64_t cols) {
  const uint64_t n = uint64_t(rows) * uint64_t(cols);
  switch (f) {
    case WeightFormat::FP8: return n;
    case WeightFormat::FP4: return n / 2;
    case WeightFormat::BF16: return 2 * n;
    case WeightFormat::F32: return 4 * n;
  }
  throw std::logic_error("unknown weight format");
}

uint64_t scale_bytes(WeightFormat f, int64_t rows, int64_t cols) {
  switch (f) {
    case WeightFormat::FP8: return uint64_t((rows + 127) / 128) * uint64_t((cols + 127) / 128) * 4;
    case WeightFormat::FP4: return uint64_t(rows) * uint64_t((cols + 31) / 32);
    default: return 0;
  }
}

uint64_t DeviceMatrix::data_stride() const { return pad16(data_bytes(format, rows, cols)); }
uint64_t DeviceMatrix::scale_stride() const { return pad16(scale_bytes(format, rows, cols)); }

}  // namespace dsv4::gpu
