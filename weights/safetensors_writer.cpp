#include "weights/safetensors_writer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "weights/error.h"

namespace dsv4 {

uint64_t TensorSpec::nbytes() const {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

std::string safetensors_header(const std::vector<TensorSpec>& specs) {
  // Written by hand rather than through nlohmann::json so the entries keep `specs` order (the
  // reference writer sorts by offset; readers must not care, ours does not).
  std::ostringstream h;
  h << "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t offset = 0;
  for (const auto& s : specs) {
    h << ",\"" << s.name << "\":{\"dtype\":\"" << dtype_name(s.dtype) << "\",\"shape\":[";
    for (size_t i = 0; i < s.shape.size(); ++i) h << (i ? "," : "") << s.shape[i];
    h << "],\"data_offsets\":[" << offset << "," << offset + s.nbytes() << "]}";
    offset += s.nbytes();
  }
  h << "}";
  std::string out = h.str();
  out.append((8 - out.size() % 8) % 8, ' ');
  return out;
}

SafetensorsWriter::SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorSpec> specs)
    : path_(path), specs_(std::move(specs)) {
  for (const auto& s : specs_)
    if (s.name.find('"') != std::string::npos || s.name.find('\\') != std::string::npos)
      throw ModelError(path.string() + ": tensor '" + s.name + "': name needs JSON escaping");
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) throw ModelError(path.string() + ": cannot create (" + std::strerror(errno) + ")");
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 22);
  const std::string h = safetensors_header(specs_);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((uint64_t(h.size()) >> (8 * i)) & 0xff);
  if (std::fwrite(len, 1, 8, f_) != 8 || std::fwrite(h.data(), 1, h.size(), f_) != h.size())
    throw ModelError(path.string() + ": write failed (" + std::strerror(errno) + ")");
  skip_empty();
}

SafetensorsWriter::~SafetensorsWriter() {
  if (f_) std::fclose(f_);
}

void SafetensorsWriter::skip_empty() {
  while (index_ < specs_.size() && written_in_current_ == specs_[index_].nbytes()) {
    ++index_;
    written_in_current_ = 0;
  }
}

void SafetensorsWriter::write(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  if (done()) throw ModelError(path_.string() + ": more data than the header declares");
  const TensorSpec& s = specs_[index_];
  if (written_in_current_ + bytes.size() > s.nbytes())
    throw ModelError(path_.string() + ": tensor '" + s.name + "': " + std::to_string(written_in_current_ + bytes.size()) +
                     " bytes written, header declares " + std::to_string(s.nbytes()));
  if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size())
    throw ModelError(path_.string() + ": write failed (" + std::strerror(errno) + ")");
  written_in_current_ += bytes.size();
  skip_empty();
}

void SafetensorsWriter::finish() {
  if (!done()) throw ModelError(path_.string() + ": tensor '" + current().name + "': incomplete");
  const bool ok = std::fflush(f_) == 0;
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!ok || !closed) throw ModelError(path_.string() + ": write failed (disk full?)");
}

void write_safetensors_index(const std::filesystem::path& path, const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size) {
  nlohmann::ordered_json j;
  j["metadata"] = {{"total_size", total_size}};
  j["weight_map"] = nlohmann::ordered_json::object();
  for (const auto& [name, shard] : weight_map) j["weight_map"][name] = shard;
  std::ofstream out(path, std::ios::binary);
  out << j.dump(2) << "\n";
  if (!out) throw ModelError(path.string() + ": write failed");
}

}  // namespace dsv4
