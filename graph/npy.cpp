#include "graph/npy.h"

#include <cstring>
#include <fstream>
#include <charconv>
#include <stdexcept>
#include <string>

namespace dsv4::graph {

namespace {

// Reads "'shape': (R, C)" from an NPY header dict (no std::regex: GCC 12's <regex> trips
// -Wmaybe-uninitialized under the sanitizer build). Rejects absurd sizes before any allocation.
bool parse_shape_2d(const std::string& header, int64_t* rows, int64_t* cols) {
  const std::string key = "'shape': (";
  const size_t at = header.find(key);
  if (at == std::string::npos) return false;
  const char* p = header.data() + at + key.size();
  const char* end = header.data() + header.size();
  auto r = std::from_chars(p, end, *rows);
  if (r.ec != std::errc() || end - r.ptr < 3 || r.ptr[0] != ',' || r.ptr[1] != ' ') return false;
  auto c = std::from_chars(r.ptr + 2, end, *cols);
  if (c.ec != std::errc() || c.ptr == end || *c.ptr != ')') return false;
  constexpr int64_t kMaxElements = int64_t(1) << 34;
  return *rows >= 0 && *cols >= 0 && (*cols == 0 || *rows <= kMaxElements / *cols);
}

}  // namespace

void write_npy(const std::filesystem::path& path, const NpyArray& a) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(a.rows) + ", " +
                       std::to_string(a.cols) + "), }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot write " + path.string());
  const uint16_t len = uint16_t(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(char(len & 0xff));
  f.put(char(len >> 8));
  f.write(header.data(), std::streamsize(header.size()));
  f.write(reinterpret_cast<const char*>(a.data.data()), std::streamsize(a.data.size() * sizeof(float)));
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path.string());
  char magic[10];
  if (!f.read(magic, 10) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path.string() + ": not an NPY file");
  size_t len = size_t(uint8_t(magic[8])) | (size_t(uint8_t(magic[9])) << 8);
  if (magic[6] != 1) {  // version 2/3: 4-byte header length
    char more[2];
    f.read(more, 2);
    len = len | (size_t(uint8_t(more[0])) << 16) | (size_t(uint8_t(more[1])) << 24);
  }
  if (len > (1u << 20)) throw std::runtime_error(path.string() + ": NPY header length " + std::to_string(len) + " is absurd");
  std::string header(len, '\0');
  if (!f.read(header.data(), std::streamsize(len))) throw std::runtime_error(path.string() + ": truncated NPY header");
  int64_t rows = 0, cols = 0;
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos ||
      !parse_shape_2d(header, &rows, &cols)) {
    throw std::runtime_error(path.string() + ": expected a 2-D little-endian float32 C-order array");
  }
  NpyArray a;
  a.rows = rows;
  a.cols = cols;
  a.data.resize(size_t(a.rows * a.cols));
  if (!f.read(reinterpret_cast<char*>(a.data.data()), std::streamsize(a.data.size() * sizeof(float)))) {
    throw std::runtime_error(path.string() + ": truncated data");
  }
  return a;
}

}  // namespace dsv4::graph
