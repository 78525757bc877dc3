// Fuzzes the safetensors header parser (weights/safetensors.h) on arbitrary bytes: it must either
// return tensors that lie inside the buffer or throw ModelError, never crash, hang or read past.
#include <cstddef>
#include <cstdint>
#include <span>

#include "weights/error.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const auto tensors = dsv4::parse_safetensors_header(bytes, size, "fuzz.safetensors");
    for (const auto& t : tensors) {
      if (t.offset + t.nbytes > size) __builtin_trap();  // an accepted tensor must lie in the file
      volatile std::byte sink{};
      if (t.nbytes) sink = bytes[size_t(t.offset + t.nbytes - 1)];
      (void)sink;
    }
  } catch (const dsv4::ModelError&) {
  }
  return 0;
}
