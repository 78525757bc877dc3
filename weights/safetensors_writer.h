// Writing safetensors files as released on the hub: one file per shard, header first (every
// offset is known up front from the shapes), then each tensor's bytes streamed in order, so a
// 150 GB model is written without ever holding more than a tensor chunk in memory.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "weights/safetensors.h"

namespace dsv4 {

struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t nbytes() const;
};

// The JSON header (without the 8-byte length), tensors laid out back to back in `specs` order,
// padded with spaces to a multiple of 8 bytes as the reference writer does.
std::string safetensors_header(const std::vector<TensorSpec>& specs);

class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorSpec> specs);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // The next bytes of the current tensor; a tensor may arrive in several pieces, never across
  // two tensors (so a generator bug cannot shift every later tensor silently).
  void write(std::span<const std::byte> bytes);
  const TensorSpec& current() const { return specs_.at(index_); }
  bool done() const { return index_ == specs_.size(); }
  // Flushes and closes; throws ModelError if a tensor is incomplete or the disk write failed.
  void finish();

 private:
  void skip_empty();
  std::filesystem::path path_;
  std::vector<TensorSpec> specs_;
  size_t index_ = 0;
  uint64_t written_in_current_ = 0;
  std::FILE* f_ = nullptr;
};

// model.safetensors.index.json: {"metadata": {"total_size": N}, "weight_map": {name: shard}}.
void write_safetensors_index(const std::filesystem::path& path, const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size);

}  // namespace dsv4
