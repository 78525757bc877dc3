#include "graph/vulkan/cache_layout.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include "weights/formats.h"

namespace dsv4::gpu {
namespace fm = dsv4::formats;

namespace {

float block_amax(std::span<const float> x) {
  float a = 0.f;
  for (float v : x) a = std::fmax(a, std::fabs(v));
  return a;
}

// Smallest exponent e with amax / 2^e <= limit = 2^p * m_limit (limit: 448 = 1.75 * 2^8 for e4m3,
// 6 = 1.5 * 2^2 for e2m1), clamped to the e8m0 range. amax == 0 takes 2^0.
int min_exponent(float amax, int p, float m_limit) {
  if (!(amax > 0.f)) return 0;
  const int k = std::ilogb(amax);
  const float m = std::ldexp(amax, -k);  // [1, 2)
  return std::clamp(k - p + (m > m_limit ? 1 : 0), -127, 127);
}

void check_size(size_t got, size_t want, const char* what) {
  if (got < want) throw std::invalid_argument(std::string(what) + ": span too small");
}

[[noreturn]] void not_representable(const char* what, float v) {
  throw std::invalid_argument(std::string(what) + ": value " + std::to_string(v) +
                              " is not a round-trip result of its block (encoding would lose it)");
}

}  // namespace

void encode_kv_entry(const KvEntryLayout& l, std::span<const float> x, std::span<uint8_t> out) {
  check_size(x.size(), l.head_dim(), "encode_kv_entry");
  check_size(out.size(), l.bytes(), "encode_kv_entry");
  std::fill(out.begin(), out.begin() + l.bytes(), uint8_t(0));
  for (uint32_t b = 0; b < l.blocks(); ++b) {
    const uint32_t lo = b * 64, hi = std::min(l.nope, lo + 64);
    const int e = min_exponent(block_amax(x.subspan(lo, hi - lo)), 8, 1.75f);
    out[l.scale_byte() + b] = uint8_t(e + 127);
    for (uint32_t i = lo; i < hi; ++i) {
      const float q = std::ldexp(x[i], -e);
      const uint8_t c = fm::float_to_e4m3(q);
      if (std::bit_cast<uint32_t>(fm::e4m3_to_float(c)) != std::bit_cast<uint32_t>(q))
        not_representable("encode_kv_entry", x[i]);
      out[i] = c;
    }
  }
  for (uint32_t i = 0; i < l.rope; ++i) {
    const float v = x[l.nope + i];
    const uint16_t h = fm::float_to_bf16(v);
    if (std::bit_cast<uint32_t>(fm::bf16_to_float(h)) != std::bit_cast<uint32_t>(v))
      not_representable("encode_kv_entry (rope dims are bf16)", v);
    out[l.rope_byte() + 2 * i] = uint8_t(h & 0xff);
    out[l.rope_byte() + 2 * i + 1] = uint8_t(h >> 8);
  }
}

void decode_kv_entry(const KvEntryLayout& l, std::span<const uint8_t> entry, std::span<float> out) {
  check_size(entry.size(), l.bytes(), "decode_kv_entry");
  check_size(out.size(), l.head_dim(), "decode_kv_entry");
  for (uint32_t i = 0; i < l.nope; ++i) {
    const int e = int(entry[l.scale_byte() + i / 64]) - 127;
    out[i] = std::ldexp(fm::e4m3_to_float(entry[i]), e);
  }
  for (uint32_t i = 0; i < l.rope; ++i) {
    const uint16_t h = uint16_t(entry[l.rope_byte() + 2 * i] | (entry[l.rope_byte() + 2 * i + 1] << 8));
    out[l.nope + i] = fm::bf16_to_float(h);
  }
}

void encode_index_entry(const IndexEntryLayout& l, std::span<const float> x, std::span<uint8_t> out) {
  check_size(x.size(), l.dim, "encode_index_entry");
  check_size(out.size(), l.bytes(), "encode_index_entry");
  std::fill(out.begin(), out.begin() + l.bytes(), uint8_t(0));
  for (uint32_t b = 0; b < l.blocks(); ++b) {
    const uint32_t lo = b * 32, hi = std::min(l.dim, lo + 32);
    const int e = min_exponent(block_amax(x.subspan(lo, hi - lo)), 2, 1.5f);
    out[l.scale_byte() + b] = uint8_t(e + 127);
    for (uint32_t i = lo; i < hi; ++i) {
      const float q = std::ldexp(x[i], -e);
      const uint8_t c = fm::float_to_e2m1(q);
      if (std::bit_cast<uint32_t>(fm::e2m1_to_float(c)) != std::bit_cast<uint32_t>(q))
        not_representable("encode_index_entry", x[i]);
      out[i / 2] = uint8_t(out[i / 2] | ((i & 1) ? c << 4 : c));
    }
  }
}

void decode_index_entry(const IndexEntryLayout& l, std::span<const uint8_t> entry, std::span<float> out) {
  check_size(entry.size(), l.bytes(), "decode_index_entry");
  check_size(out.size(), l.dim, "decode_index_entry");
  for (uint32_t i = 0; i < l.dim; ++i) {
    const int e = int(entry[l.scale_byte() + i / 32]) - 127;
    out[i] = std::ldexp(fm::fp4_packed_at(entry.data(), i), e);
  }
}

}  // namespace dsv4::gpu
