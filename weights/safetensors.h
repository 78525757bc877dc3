// Safetensors checkpoints: one file or shards behind model.safetensors.index.json, memory-mapped,
// every header fully validated before any tensor is handed out (model-spec §2.1-2.3, §2.6).
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4 {

enum class DType { F8_E4M3, F8_E8M0, I8, U8, BF16, F16, F32, I32, I64, BOOL };

const char* dtype_name(DType t);          // the safetensors spelling, e.g. "F8_E4M3"
size_t dtype_size(DType t);               // bytes per element (I8 packed FP4: 1 byte = 2 values)
bool parse_dtype(std::string_view s, DType* out);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::filesystem::path file;  // the shard holding it
  uint64_t offset = 0;         // absolute byte offset of the data in `file`
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// A tensor's bytes with its dtype and shape: what the dequantisers and uploaders consume.
struct TensorView {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
  int64_t numel() const;
  int64_t dim(size_t i) const { return shape.at(i); }
};

// Parses and fully validates one safetensors header. `bytes` is the start of the file (at least
// 8 + header length bytes; the whole mapped file in practice), `file_size` the size of the whole
// file, `file` only names the file in errors. Checks: header length sane and inside the file, JSON
// syntax, no duplicate names, known dtypes, non-negative shapes, data_offsets in bounds, byte
// length = numel x dtype size, no two tensors overlapping. Returned offsets are absolute.
// Throws ModelError naming the file and the tensor at fault. Exposed for the fuzz target.
std::vector<TensorInfo> parse_safetensors_header(std::span<const std::byte> bytes, uint64_t file_size,
                                                 const std::filesystem::path& file);

// Parses model.safetensors.index.json text into {tensor name -> shard file name}, validated
// (object `weight_map` of strings; shard names are plain file names, no directories).
std::map<std::string, std::string> parse_safetensors_index(std::string_view text,
                                                           const std::filesystem::path& file);

class MappedFile;  // read-only mmap of one shard

class Checkpoint {
 public:
  // `path`: a model directory (model.safetensors or model.safetensors.index.json inside) or a
  // single .safetensors file. Throws ModelError naming the file and what is wrong.
  static Checkpoint open(const std::filesystem::path& path);

  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  ~Checkpoint();

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;  // nullptr if absent
  const TensorInfo& at(std::string_view name) const;    // throws ModelError naming the tensor
  std::span<const std::byte> data(const TensorInfo& t) const;
  TensorView view(const TensorInfo& t) const { return {t.dtype, t.shape, data(t)}; }
  TensorView view(std::string_view name) const { return view(at(name)); }
  // What the loaders read through: throws ModelError if t's file changed size or mtime since it
  // was mapped, or if t holds a NaN/Inf (tensor_check.h), naming file, tensor and element.
  std::span<const std::byte> checked_data(const TensorInfo& t) const;
  TensorView checked_view(const TensorInfo& t) const { return {t.dtype, t.shape, checked_data(t)}; }
  // The changed-file half of checked_data alone, for loaders that scan while they stream.
  void check_unchanged(const TensorInfo& t) const;
  uint64_t total_bytes() const;  // sum of tensor data bytes
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  Checkpoint() = default;
  size_t index_of(const TensorInfo& t) const;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> by_name_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::unique_ptr<MappedFile>> maps_;  // parallel to files_
  std::vector<size_t> file_of_;                    // parallel to tensors_: index into files_
};

}  // namespace dsv4
