// The SPIR-V modules compiled from shaders/**/*.comp at build time, embedded in the binary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace dsv4::shaders {

struct Spirv {
  std::string_view name;  // path below shaders/ without ".comp", e.g. "test/decode_formats"
  const uint32_t* words;
  size_t word_count;
};

std::span<const Spirv* const> all();
// nullptr when no shader of that name was compiled into this binary.
const Spirv* find(std::string_view name);

}  // namespace dsv4::shaders
