// Build tool: dsv4_coopmat_khr IN.spv OUT.spv writes the SPV_KHR_cooperative_matrix form of an
// SPV_NV_cooperative_matrix module (vk/spirv_coopmat_khr.h says why the build needs it).
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "vk/spirv_coopmat_khr.h"

namespace {

std::vector<uint32_t> read_words(const char* path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open");
  const std::vector<char> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  if (bytes.size() % 4 != 0) throw std::runtime_error("size is not a multiple of 4 bytes");
  std::vector<uint32_t> words(bytes.size() / 4);
  for (size_t i = 0; i < words.size(); ++i) {
    uint32_t v = 0;
    for (int b = 3; b >= 0; --b) v = (v << 8) | uint8_t(bytes[4 * i + b]);
    words[i] = v;
  }
  return words;
}

void write_words(const char* path, const std::vector<uint32_t>& words) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  for (uint32_t v : words) {
    const char b[4] = {char(v & 0xff), char((v >> 8) & 0xff), char((v >> 16) & 0xff), char(v >> 24)};
    f.write(b, 4);
  }
  if (!f) throw std::runtime_error("cannot write");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: dsv4_coopmat_khr IN.spv OUT.spv\n");
    return 2;
  }
  try {
    write_words(argv[2], dsv4::vk::coopmat_nv_to_khr(read_words(argv[1])));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsv4_coopmat_khr: %s: %s\n", argv[1], e.what());
    return 1;
  }
  return 0;
}
