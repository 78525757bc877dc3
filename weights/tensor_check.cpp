#include "weights/tensor_check.h"

#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "weights/error.h"

namespace dsv4 {

namespace {

static_assert(std::endian::native == std::endian::little, "the lane tricks below read little-endian words");

// One lane layout: a lane is non-finite when all bits of its exponent field (`mask`) are set;
// adding the field's lowest bit then carries into the lane's top bit (`top`) and nowhere else, so
// ((w & mask) + add) & top is exact for every lane of a word at once. `whole_byte` also requires the
// top bit itself (e8m0: only 0xFF is NaN, 0x7F is the finite 2^0).
struct Lanes {
  uint64_t mask, add, top;
  bool whole_byte;
  size_t elem;
};

constexpr uint64_t rep8(uint8_t b) { return 0x0101010101010101ull * b; }
constexpr uint64_t rep16(uint16_t h) { return 0x0001000100010001ull * h; }
constexpr uint64_t rep32(uint32_t v) { return 0x0000000100000001ull * v; }

constexpr Lanes kE4M3{rep8(0x7F), rep8(0x01), rep8(0x80), false, 1};
constexpr Lanes kE8M0{rep8(0x7F), rep8(0x01), rep8(0x80), true, 1};
constexpr Lanes kBF16{rep16(0x7F80), rep16(0x0080), rep16(0x8000), false, 2};
constexpr Lanes kF16{rep16(0x7C00), rep16(0x0400), rep16(0x8000), false, 2};
constexpr Lanes kF32{rep32(0x7F800000u), rep32(0x00800000u), rep32(0x80000000u), false, 4};

template <const Lanes& L>
inline uint64_t hits(uint64_t w) {
  const uint64_t h = ((w & L.mask) + L.add) & L.top;
  return L.whole_byte ? h & w : h;
}

inline uint64_t load(const std::byte* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Index of the first hit in the words [begin, end) bytes of `p`, or kAllFinite.
template <const Lanes& L>
size_t locate(const std::byte* p, size_t begin, size_t end) {
  for (size_t i = begin; i < end; i += 8)
    if (const uint64_t h = hits<L>(load(p + i))) return (i + size_t(std::countr_zero(h)) / 8) / L.elem;
  return kAllFinite;
}

template <const Lanes& L>
size_t scan(std::span<const std::byte> bytes) {
  const std::byte* p = bytes.data();
  const size_t n = bytes.size(), words = n & ~size_t(7);
  // Blocks of 32 words OR-reduced without branches: the compiler vectorises this loop.
  constexpr size_t kBlock = 256;
  size_t i = 0;
  for (; i + kBlock <= words; i += kBlock) {
    uint64_t any = 0;
    for (size_t j = 0; j < kBlock; j += 8) any |= hits<L>(load(p + i + j));
    if (any) return locate<L>(p, i, i + kBlock);
  }
  if (const size_t r = locate<L>(p, i, words); r != kAllFinite) return r;
  if (words == n) return kAllFinite;
  // The last partial word, zero-padded (zero is finite in every format).
  uint64_t w = 0;
  std::memcpy(&w, p + words, n - words);
  if (const uint64_t h = hits<L>(w)) return (words + size_t(std::countr_zero(h)) / 8) / L.elem;
  return kAllFinite;
}

std::string hex(unsigned v, int digits) {
  static const char* kDigits = "0123456789abcdef";
  std::string s = "0x";
  for (int i = digits - 1; i >= 0; --i) s += kDigits[(v >> (4 * i)) & 15];
  return s;
}

// Infinity when the mantissa bits below the exponent are zero, NaN otherwise.
std::string inf_or_nan(uint32_t bits, uint32_t mantissa_mask, uint32_t sign_bit, const char* type, int digits) {
  const std::string code = std::string(" (") + type + " " + hex(bits, digits) + ")";
  if (bits & mantissa_mask) return "is NaN" + code;
  return std::string("is ") + ((bits & sign_bit) ? "-Inf" : "+Inf") + code;
}

std::string coordinates(const std::vector<int64_t>& shape, uint64_t index) {
  if (shape.size() < 2) return "";
  std::vector<uint64_t> c(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    const uint64_t n = shape[d] > 0 ? uint64_t(shape[d]) : 1;
    c[d] = index % n;
    index /= n;
  }
  std::string s = " [";
  for (size_t d = 0; d < c.size(); ++d) s += (d ? ", " : "") + std::to_string(c[d]);
  return s + "]";
}

}  // namespace

size_t find_e4m3_nan(std::span<const std::byte> bytes) { return scan<kE4M3>(bytes); }
size_t find_e8m0_nan(std::span<const std::byte> bytes) { return scan<kE8M0>(bytes); }
size_t find_bf16_nonfinite(std::span<const std::byte> bytes) { return scan<kBF16>(bytes); }
size_t find_f16_nonfinite(std::span<const std::byte> bytes) { return scan<kF16>(bytes); }
size_t find_f32_nonfinite(std::span<const std::byte> bytes) { return scan<kF32>(bytes); }

size_t find_nonfinite(DType dtype, std::span<const std::byte> bytes) {
  switch (dtype) {
    case DType::F8_E4M3: return find_e4m3_nan(bytes);
    case DType::F8_E8M0: return find_e8m0_nan(bytes);
    case DType::BF16: return find_bf16_nonfinite(bytes);
    case DType::F16: return find_f16_nonfinite(bytes);
    case DType::F32: return find_f32_nonfinite(bytes);
    default: return kAllFinite;  // integers, and I8 = packed e2m1, whose 16 codes are all finite
  }
}

std::string describe_nonfinite(DType dtype, std::span<const std::byte> bytes, size_t index) {
  const size_t size = dtype_size(dtype);
  uint32_t bits = 0;
  for (size_t k = 0; k < size && k < 4; ++k) bits |= uint32_t(bytes[index * size + k]) << (8 * k);
  switch (dtype) {
    case DType::F8_E4M3: return "is NaN (e4m3 code " + hex(bits, 2) + ")";
    case DType::F8_E8M0: return "is NaN (e8m0 scale code " + hex(bits, 2) + ")";
    case DType::BF16: return inf_or_nan(bits, 0x007F, 0x8000, "bf16", 4);
    case DType::F16: return inf_or_nan(bits, 0x03FF, 0x8000, "f16", 4);
    case DType::F32: return inf_or_nan(bits, 0x007FFFFF, 0x80000000u, "f32", 8);
    default: return "is not finite";
  }
}

void check_finite(const TensorInfo& t, std::span<const std::byte> bytes, uint64_t first) {
  const size_t i = find_nonfinite(t.dtype, bytes);
  if (i == kAllFinite) return;
  const uint64_t index = first + i;
  throw ModelError(t.file.string() + ": tensor '" + t.name + "': element " + std::to_string(index) +
                   coordinates(t.shape, index) + " " + describe_nonfinite(t.dtype, bytes, i));
}

}  // namespace dsv4
