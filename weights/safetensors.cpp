// Safetensors reading: header validation, the shard index, and read-only memory maps.
#include "weights/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "weights/error.h"
#include "weights/mapped_file.h"
#include "weights/model_files.h"
#include "weights/tensor_check.h"

namespace dsv4 {

namespace {

using json = nlohmann::json;

// The safetensors reference implementation refuses headers above 100 MB; so do we (a Flash shard's
// header is ~250 KB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Bound on any element count, so products and byte sizes never overflow 64 bits.
constexpr uint64_t kMaxNumel = 1ull << 60;

struct DTypeName {
  DType type;
  const char* name;
  size_t size;
};
constexpr DTypeName kDTypes[] = {
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E8M0, "F8_E8M0", 1}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},           {DType::BF16, "BF16", 2},       {DType::F16, "F16", 2},
    {DType::F32, "F32", 4},         {DType::I32, "I32", 4},         {DType::I64, "I64", 8},
    {DType::BOOL, "BOOL", 1},
};

std::string where(const std::filesystem::path& file, std::string_view tensor) {
  return file.string() + ": tensor '" + std::string(tensor) + "': ";
}

uint64_t read_le64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

bool get_u64(const json& v, uint64_t* out) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  const int64_t s = v.get<int64_t>();
  if (s < 0) return false;
  *out = uint64_t(s);
  return true;
}

// Rejects a second occurrence of a tensor name (nlohmann would silently keep the last one).
json parse_header_json(std::string_view text, const std::filesystem::path& file) {
  std::set<std::string> names;
  auto no_duplicates = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!names.insert(key).second) throw ModelError(where(file, key) + "appears twice in the header");
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), no_duplicates);
  } catch (const json::parse_error& e) {
    throw ModelError(file.string() + ": header is not valid JSON (byte " + std::to_string(e.byte) + " of " +
                     std::to_string(text.size()) + ")");
  } catch (const json::exception& e) {  // e.g. a number too large for any numeric type
    throw ModelError(file.string() + ": header is not valid JSON (" + e.what() + ")");
  }
}

TensorInfo parse_entry(const std::string& name, const json& e, uint64_t data_start, uint64_t data_len,
                       const std::filesystem::path& file) {
  const std::string at = where(file, name);
  if (name.empty()) throw ModelError(file.string() + ": a tensor has an empty name");
  if (!e.is_object()) throw ModelError(at + "entry is not an object");
  if (!e.contains("dtype") || !e["dtype"].is_string()) throw ModelError(at + "missing or non-string 'dtype'");
  TensorInfo t;
  t.name = name;
  t.file = file;
  const std::string dt = e["dtype"].get<std::string>();
  if (!parse_dtype(dt, &t.dtype)) throw ModelError(at + "unsupported dtype '" + dt + "'");
  if (!e.contains("shape") || !e["shape"].is_array()) throw ModelError(at + "missing or non-array 'shape'");
  uint64_t numel = 1;
  for (const auto& d : e["shape"]) {
    uint64_t v = 0;
    if (!get_u64(d, &v) || v > kMaxNumel) throw ModelError(at + "bad dimension " + d.dump() + " in 'shape'");
    t.shape.push_back(int64_t(v));
    numel = (v == 0 || numel == 0) ? 0 : (numel > kMaxNumel / v ? kMaxNumel + 1 : numel * v);
    if (numel > kMaxNumel) throw ModelError(at + "shape " + e["shape"].dump() + " is too large");
  }
  if (!e.contains("data_offsets") || !e["data_offsets"].is_array() || e["data_offsets"].size() != 2)
    throw ModelError(at + "'data_offsets' must be [begin, end]");
  uint64_t begin = 0, end = 0;
  if (!get_u64(e["data_offsets"][0], &begin) || !get_u64(e["data_offsets"][1], &end) || begin > end)
    throw ModelError(at + "bad data_offsets " + e["data_offsets"].dump());
  if (end > data_len)
    throw ModelError(at + "data_offsets " + e["data_offsets"].dump() + " run past the end of the file (data is " +
                     std::to_string(data_len) + " bytes; file truncated?)");
  const uint64_t expect = numel * dtype_size(t.dtype);
  if (end - begin != expect)
    throw ModelError(at + "holds " + std::to_string(end - begin) + " bytes, but " + dt + " " + e["shape"].dump() +
                     " needs " + std::to_string(expect));
  t.offset = data_start + begin;
  t.nbytes = end - begin;
  return t;
}

void check_no_overlap(std::vector<TensorInfo>& ts, const std::filesystem::path& file) {
  std::sort(ts.begin(), ts.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
  });
  for (size_t i = 1; i < ts.size(); ++i) {
    const TensorInfo& p = ts[i - 1];
    if (ts[i].offset < p.offset + p.nbytes)
      throw ModelError(where(file, ts[i].name) + "data overlaps tensor '" + p.name + "'");
  }
}

std::string read_text_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ModelError(p.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const char* dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  return "?";
}
size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.size;
  return 0;
}
bool parse_dtype(std::string_view s, DType* out) {
  for (const auto& d : kDTypes)
    if (s == d.name) {
      *out = d.type;
      return true;
    }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}
int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<TensorInfo> parse_safetensors_header(std::span<const std::byte> bytes, uint64_t file_size,
                                                 const std::filesystem::path& file) {
  if (file_size < 8 || bytes.size() < 8)
    throw ModelError(file.string() + ": truncated (" + std::to_string(file_size) +
                     " bytes, too short for a safetensors header length)");
  const uint64_t n = read_le64(bytes.data());
  if (n < 2 || n > kMaxHeaderBytes)
    throw ModelError(file.string() + ": header length " + std::to_string(n) + " is not sane (2 .. 100 MB)");
  if (n > file_size - 8 || n > bytes.size() - 8)
    throw ModelError(file.string() + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                     std::to_string(file_size) + " bytes)");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), size_t(n));
  const json h = parse_header_json(text, file);
  if (!h.is_object()) throw ModelError(file.string() + ": header is not a JSON object");
  const uint64_t data_start = 8 + n, data_len = file_size - data_start;
  std::vector<TensorInfo> out;
  for (const auto& [name, entry] : h.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw ModelError(file.string() + ": '__metadata__' is not an object");
      continue;
    }
    out.push_back(parse_entry(name, entry, data_start, data_len, file));
  }
  check_no_overlap(out, file);
  return out;
}

std::map<std::string, std::string> parse_safetensors_index(std::string_view text,
                                                           const std::filesystem::path& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ModelError(file.string() + ": invalid JSON at byte " + std::to_string(e.byte));
  } catch (const json::exception& e) {
    throw ModelError(file.string() + ": invalid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw ModelError(file.string() + ": key 'weight_map': missing or not an object");
  std::map<std::string, std::string> map;
  for (const auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string()) throw ModelError(file.string() + ": weight_map['" + name + "'] is not a string");
    const std::string s = shard.get<std::string>();
    if (s.empty() || s.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos || s == "." || s == "..")
      throw ModelError(file.string() + ": weight_map['" + name + "'] = '" + s + "' is not a plain shard file name");
    map.emplace(name, s);
  }
  if (map.empty()) throw ModelError(file.string() + ": key 'weight_map': empty");
  return map;
}

// ---- Checkpoint ---------------------------------------------------------------------------------

Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

namespace {

struct Layout {
  std::vector<std::filesystem::path> shards;
  std::filesystem::path index;                   // empty for a single file
  std::map<std::string, std::string> weight_map;  // empty for a single file
};

Layout find_layout(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  Layout l;
  fs::path index, single;
  if (fs::is_directory(path, ec)) {
    index = path / "model.safetensors.index.json";
    single = path / "model.safetensors";
    if (!fs::exists(index, ec)) index.clear();
    if (index.empty() && !fs::exists(single, ec))
      throw ModelError(path.string() + ": no model.safetensors or model.safetensors.index.json in this directory");
  } else if (!fs::exists(path, ec)) {
    throw ModelError(path.string() + ": no such file or directory");
  } else if (path.extension() == ".json") {
    index = path;
  } else {
    single = path;
  }
  if (index.empty()) {
    check_model_file(single);
    l.shards.push_back(single);
    return l;
  }
  l.index = index;
  check_model_file(index);
  l.weight_map = parse_safetensors_index(read_text_file(index), index);
  std::set<std::string> names;
  for (const auto& [tensor, shard] : l.weight_map) names.insert(shard);
  for (const auto& s : names) {
    const fs::path p = index.parent_path() / s;
    if (!fs::exists(p, ec))
      throw ModelError(p.string() + ": shard missing (listed in " + index.filename().string() + ")");
    check_model_file(p);
    l.shards.push_back(p);
  }
  return l;
}

// Every tensor of a shard must be mapped to that shard by the index, and vice versa.
void cross_check_index(const Layout& l, const std::vector<TensorInfo>& all,
                       const std::map<std::string, size_t, std::less<>>& by_name) {
  if (l.index.empty()) return;
  for (const auto& t : all) {
    auto it = l.weight_map.find(t.name);
    if (it == l.weight_map.end())
      throw ModelError(where(t.file, t.name) + "present in the shard but not in " + l.index.filename().string());
    if (it->second != t.file.filename().string())
      throw ModelError(where(t.file, t.name) + l.index.filename().string() + " places it in " + it->second);
  }
  for (const auto& [name, shard] : l.weight_map)
    if (!by_name.count(name))
      throw ModelError((l.index.parent_path() / shard).string() + ": tensor '" + name + "': listed in " +
                       l.index.filename().string() + " but absent from the shard's header");
}

}  // namespace

Checkpoint Checkpoint::open(const std::filesystem::path& path) {
  const Layout layout = find_layout(path);
  Checkpoint c;
  for (const auto& shard : layout.shards) {
    auto map = std::make_unique<MappedFile>(shard);
    std::vector<TensorInfo> ts = parse_safetensors_header(map->bytes(), map->size(), shard);
    for (auto& t : ts) {
      if (c.by_name_.count(t.name))
        throw ModelError(where(shard, t.name) + "also present in " + c.tensors_[c.by_name_.find(t.name)->second].file.string());
      c.by_name_.emplace(t.name, c.tensors_.size());
      c.file_of_.push_back(c.files_.size());
      c.tensors_.push_back(std::move(t));
    }
    c.files_.push_back(shard);
    c.maps_.push_back(std::move(map));
  }
  cross_check_index(layout, c.tensors_, c.by_name_);
  return c;
}

const TensorInfo* Checkpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& Checkpoint::at(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (!t)
    throw ModelError("tensor '" + std::string(name) + "': not in the checkpoint" +
                     (files_.empty() ? std::string() : " (" + files_.front().parent_path().string() + ")"));
  return *t;
}

std::span<const std::byte> Checkpoint::data(const TensorInfo& t) const {
  const size_t i = index_of(t);
  return maps_[file_of_[i]]->bytes().subspan(size_t(tensors_[i].offset), size_t(tensors_[i].nbytes));
}

size_t Checkpoint::index_of(const TensorInfo& t) const {
  if (!tensors_.empty() && &t >= tensors_.data() && &t < tensors_.data() + tensors_.size())
    return size_t(&t - tensors_.data());
  return by_name_.at(t.name);  // a copy of one of ours
}

void Checkpoint::check_unchanged(const TensorInfo& t) const { maps_[file_of_[index_of(t)]]->check_unchanged(); }

std::span<const std::byte> Checkpoint::checked_data(const TensorInfo& t) const {
  check_unchanged(t);
  const std::span<const std::byte> bytes = data(t);
  check_finite(t, bytes);
  return bytes;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n += t.nbytes;
  return n;
}

}  // namespace dsv4
