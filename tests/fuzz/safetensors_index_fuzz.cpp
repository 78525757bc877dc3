// Fuzzes the model.safetensors.index.json parser: shard names must stay plain file names.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "weights/error.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto map = dsv4::parse_safetensors_index(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    for (const auto& [name, shard] : map)
      if (shard.empty() || shard.find('/') != std::string::npos) __builtin_trap();
  } catch (const dsv4::ModelError&) {
  }
  return 0;
}
