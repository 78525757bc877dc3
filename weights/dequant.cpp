#include "weights/dequant.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "weights/error.h"
#include "weights/formats.h"

namespace dsv4 {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

[[noreturn]] void bad(const std::string& what) { throw ModelError("dequant: " + what); }

void check_rows(const TensorView& w, int64_t row0, int64_t nrows) {
  if (row0 < 0 || nrows < 0 || row0 + nrows > logical_rows(w))
    bad("rows [" + std::to_string(row0) + ", " + std::to_string(row0 + nrows) + ") outside " + shape_str(w.shape));
}

void check_bytes(const TensorView& t) {
  if (t.numel() < 0 || uint64_t(t.numel()) * dtype_size(t.dtype) != t.data.size())
    bad(std::string(dtype_name(t.dtype)) + " " + shape_str(t.shape) + " does not match its " +
        std::to_string(t.data.size()) + " bytes");
}

// Decoded values of every byte code: the inner loops look codes up instead of decoding them.
struct CodeTables {
  float e4m3[256], e8m0[256];
  CodeTables() {
    for (int c = 0; c < 256; ++c) e4m3[c] = formats::e4m3_to_float(uint8_t(c)), e8m0[c] = formats::e8m0_to_float(uint8_t(c));
  }
};
const CodeTables& tables() {
  static const CodeTables t;
  return t;
}

// A scale entry as float: E8M0 (instruct) or F32 (Base checkpoints, §2.6).
float scale_at(const TensorView& s, int64_t i) {
  if (s.dtype == DType::F8_E8M0) return tables().e8m0[uint8_t(s.data[size_t(i)])];
  float f;
  std::memcpy(&f, s.data.data() + size_t(i) * 4, 4);
  return f;
}

void check_scale(const TensorView& s, int64_t rows, int64_t cols, const char* kind) {
  if (s.dtype != DType::F8_E8M0 && s.dtype != DType::F32)
    bad(std::string(kind) + " scale must be F8_E8M0 or F32, got " + dtype_name(s.dtype));
  check_bytes(s);
  if (s.shape != std::vector<int64_t>{rows, cols})
    bad(std::string(kind) + " scale " + shape_str(s.shape) + ", expected " + shape_str({rows, cols}));
}

}  // namespace

int64_t logical_rows(const TensorView& w) {
  if (w.shape.empty()) return 1;
  int64_t r = 1;
  for (size_t i = 0; i + 1 < w.shape.size(); ++i) r *= w.shape[i];
  return w.shape.size() == 1 ? 1 : r;
}

int64_t logical_cols(const TensorView& w) {
  if (w.shape.empty()) return 1;
  return w.shape.back() * (w.dtype == DType::I8 ? 2 : 1);
}

void dequant_fp8_rows(const TensorView& w, const TensorView& scale, int64_t row0, int64_t nrows, float* out) {
  if (w.dtype != DType::F8_E4M3 || w.shape.size() != 2) bad("FP8 weight must be F8_E4M3 [out, in]");
  check_bytes(w);
  const int64_t rows = w.shape[0], cols = w.shape[1];
  check_scale(scale, (rows + 127) / 128, (cols + 127) / 128, "FP8");
  check_rows(w, row0, nrows);
  const int64_t scols = scale.shape[1];
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = row0 + r;
    const auto* q = reinterpret_cast<const uint8_t*>(w.data.data()) + row * cols;
    float* o = out + r * cols;
    const float* lut = tables().e4m3;
    for (int64_t j0 = 0; j0 < cols; j0 += 128) {  // one scale per 128 columns
      const float sc = scale_at(scale, (row / 128) * scols + j0 / 128);
      for (int64_t j = j0; j < std::min(cols, j0 + 128); ++j) o[j] = lut[q[j]] * sc;
    }
  }
}

void dequant_fp4_rows(const TensorView& w, const TensorView& scale, int64_t row0, int64_t nrows, float* out) {
  if (w.dtype != DType::I8 || w.shape.size() != 2) bad("FP4 weight must be I8 [out, in/2]");
  check_bytes(w);
  const int64_t rows = w.shape[0], cols = w.shape[1] * 2;
  if (cols % 32) bad("FP4 weight " + shape_str(w.shape) + ": logical width " + std::to_string(cols) + " not a multiple of 32");
  check_scale(scale, rows, cols / 32, "FP4");
  check_rows(w, row0, nrows);
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = row0 + r;
    const auto* q = reinterpret_cast<const uint8_t*>(w.data.data()) + row * (cols / 2);
    float* o = out + r * cols;
    for (int64_t c = 0; c < cols; ++c) o[c] = formats::fp4_packed_at(q, c) * scale_at(scale, row * (cols / 32) + c / 32);
  }
}

void to_float_rows(const TensorView& t, int64_t row0, int64_t nrows, float* out) {
  check_bytes(t);
  check_rows(t, row0, nrows);
  const int64_t cols = logical_cols(t);
  const size_t n = size_t(nrows * cols), first = size_t(row0 * cols);
  const std::byte* p = t.data.data();
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, p + first * 4, n * 4);
      return;
    case DType::BF16:
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + (first + i) * 2, 2);
        out[i] = t.dtype == DType::BF16 ? formats::bf16_to_float(h) : formats::f16_to_float(h);
      }
      return;
    default:
      bad(std::string("cannot convert ") + dtype_name(t.dtype) + " to float without a scale");
  }
}

void dequant_rows(const TensorView& w, const TensorView* scale, int64_t row0, int64_t nrows, float* out) {
  if (w.dtype == DType::F8_E4M3 || w.dtype == DType::I8) {
    if (!scale) bad(std::string(dtype_name(w.dtype)) + " weight " + shape_str(w.shape) + " needs its .scale");
    if (w.dtype == DType::F8_E4M3) dequant_fp8_rows(w, *scale, row0, nrows, out);
    else dequant_fp4_rows(w, *scale, row0, nrows, out);
    return;
  }
  to_float_rows(w, row0, nrows, out);
}

std::vector<float> dequant_all(const TensorView& w, const TensorView* scale) {
  std::vector<float> out(size_t(logical_rows(w) * logical_cols(w)));
  dequant_rows(w, scale, 0, logical_rows(w), out.data());
  return out;
}

std::vector<int64_t> to_int64(const TensorView& t) {
  check_bytes(t);
  std::vector<int64_t> out(size_t(t.numel()));
  if (t.dtype == DType::I64) {
    std::memcpy(out.data(), t.data.data(), out.size() * 8);
  } else if (t.dtype == DType::I32) {
    for (size_t i = 0; i < out.size(); ++i) {
      int32_t v;
      std::memcpy(&v, t.data.data() + i * 4, 4);
      out[i] = v;
    }
  } else {
    bad(std::string("expected an I64 or I32 tensor, got ") + dtype_name(t.dtype));
  }
  return out;
}

}  // namespace dsv4
