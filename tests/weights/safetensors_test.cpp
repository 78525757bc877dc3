// Safetensors reading and writing: the published fixture, single files and shards, and one clear
// error for every malformed input (model-spec §2.1; the issue's list of bad inputs).
#include "weights/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "weights/error.h"
#include "weights/safetensors_writer.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = DSV4_TEST_DATA_DIR;

fs::path scratch(const std::string& name) {
  const fs::path p = fs::path(DSV4_BUILD_DIR) / "test_safetensors" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A safetensors file from a literal header and data, for inputs the writer would never produce.
void write_raw(const fs::path& p, const std::string& header, const std::string& data, int64_t len_override = -1) {
  std::ofstream out(p, std::ios::binary);
  const uint64_t n = len_override >= 0 ? uint64_t(len_override) : header.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out << header << data;
}

std::string open_error(const fs::path& p) {
  try {
    Checkpoint::open(p);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(DType, NamesSizesRoundTrip) {
  for (DType t : {DType::F8_E4M3, DType::F8_E8M0, DType::I8, DType::U8, DType::BF16, DType::F16, DType::F32,
                  DType::I32, DType::I64, DType::BOOL}) {
    DType back{};
    ASSERT_TRUE(parse_dtype(dtype_name(t), &back)) << dtype_name(t);
    EXPECT_EQ(back, t);
  }
  EXPECT_EQ(dtype_size(DType::F8_E4M3), 1u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  DType t{};
  EXPECT_FALSE(parse_dtype("F64", &t));
  EXPECT_FALSE(parse_dtype("f32", &t));
}

// Offsets and bytes of the fixture, checked against a direct read of the file (header length
// 50272, data after it; embed.weight first at data offset 0).
TEST(Checkpoint, OpensTheFixture) {
  const Checkpoint c = Checkpoint::open(kData + "/tiny-a");
  EXPECT_EQ(c.tensors().size(), 508u);
  EXPECT_EQ(c.files().size(), 1u);
  const TensorInfo& e = c.at("embed.weight");
  EXPECT_EQ(e.dtype, DType::BF16);
  EXPECT_EQ(e.shape, (std::vector<int64_t>{1024, 256}));
  EXPECT_EQ(e.offset, 8u + 50272u);
  EXPECT_EQ(e.nbytes, 524288u);
  const std::string raw = read_all(kData + "/tiny-a/model.safetensors");
  const TensorInfo& t = c.at("layers.0.ffn.gate.tid2eid");
  EXPECT_EQ(t.dtype, DType::I64);
  auto bytes = c.data(t);
  ASSERT_EQ(bytes.size(), 1024u * 2 * 8);
  EXPECT_EQ(std::memcmp(bytes.data(), raw.data() + 8 + 50272 + 1680432, bytes.size()), 0);
  EXPECT_EQ(c.total_bytes(), raw.size() - 8 - 50272);
  EXPECT_EQ(c.find("no.such.tensor"), nullptr);
  EXPECT_THROW(c.at("no.such.tensor"), ModelError);
  const TensorView v = c.view("layers.1.attn.compressor.ape");
  EXPECT_EQ(v.dtype, DType::F32);
  EXPECT_EQ(v.numel(), 4 * 256);
}

std::vector<TensorSpec> small_specs() {
  return {{"a", DType::F32, {2, 3}}, {"b.weight", DType::BF16, {5}}, {"empty", DType::I8, {0, 4}}, {"c", DType::I64, {1}}};
}

std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 31 + size_t(seed)) & 0xff);
  return s;
}

void write_specs(const fs::path& p, const std::vector<TensorSpec>& specs, int seed) {
  SafetensorsWriter w(p, specs);
  for (const auto& s : specs) {
    const std::string d = pattern(s.nbytes(), seed++);
    // in two pieces, as the streaming generator does
    w.write(std::as_bytes(std::span(d.data(), d.size() / 2)));
    w.write(std::as_bytes(std::span(d.data() + d.size() / 2, d.size() - d.size() / 2)));
  }
  w.finish();
}

TEST(Checkpoint, WriterRoundTripSingleFile) {
  const fs::path dir = scratch("single");
  const auto specs = small_specs();
  write_specs(dir / "model.safetensors", specs, 7);
  EXPECT_EQ(uint8_t(read_all(dir / "model.safetensors")[0]) % 8, 0);  // header length padded to 8
  const Checkpoint c = Checkpoint::open(dir);
  ASSERT_EQ(c.tensors().size(), specs.size());
  int seed = 7;
  for (const auto& s : specs) {
    const TensorInfo& t = c.at(s.name);
    EXPECT_EQ(t.dtype, s.dtype);
    EXPECT_EQ(t.shape, s.shape);
    const auto d = c.data(t);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.data()), d.size()), pattern(s.nbytes(), seed++)) << s.name;
  }
}

TEST(Checkpoint, WriterRefusesWrongByteCounts) {
  const fs::path dir = scratch("writer");
  SafetensorsWriter w(dir / "x.safetensors", {{"a", DType::F32, {2}}});
  const std::string nine(9, 'x');
  EXPECT_THROW(w.write(std::as_bytes(std::span(nine.data(), nine.size()))), ModelError);
  EXPECT_THROW(w.finish(), ModelError);
}

fs::path write_sharded(const std::string& name) {
  const fs::path dir = scratch(name);
  write_specs(dir / "model-00001-of-00002.safetensors", {{"x", DType::F32, {4}}, {"y", DType::BF16, {2, 2}}}, 1);
  write_specs(dir / "model-00002-of-00002.safetensors", {{"z", DType::F8_E4M3, {3}}}, 2);
  write_safetensors_index(dir / "model.safetensors.index.json",
                          {{"x", "model-00001-of-00002.safetensors"},
                           {"y", "model-00001-of-00002.safetensors"},
                           {"z", "model-00002-of-00002.safetensors"}},
                          16 + 8 + 3);
  return dir;
}

TEST(Checkpoint, ShardedWithIndex) {
  const fs::path dir = write_sharded("sharded");
  const Checkpoint c = Checkpoint::open(dir);
  EXPECT_EQ(c.tensors().size(), 3u);
  EXPECT_EQ(c.files().size(), 2u);
  EXPECT_EQ(c.at("z").file.filename(), "model-00002-of-00002.safetensors");
  EXPECT_EQ(c.data(c.at("z"))[0], std::byte(2));  // pattern(3, 2)[0]
  EXPECT_EQ(c.total_bytes(), 27u);
  // the index file itself can be named too
  EXPECT_EQ(Checkpoint::open(dir / "model.safetensors.index.json").tensors().size(), 3u);
}

struct Malformed {
  const char* what;
  std::string header;
  std::string data;
  int64_t len_override;
  const char* expect;
};

TEST(Checkpoint, MalformedFilesGiveOneClearError) {
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const Malformed cases[] = {
      {"bad JSON", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", std::string(8, 'x'), -1, "not valid JSON"},
      {"not an object", "[1,2]", "", -1, "not a JSON object"},
      {"header past EOF", "{" + ok_entry + "}", std::string(8, 'x'), 1000, "runs past the end of the file"},
      {"insane header length", "{}", "", int64_t(1) << 40, "is not sane"},
      {"unknown dtype", R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", std::string(8, 'x'), -1,
       "tensor 'a': unsupported dtype 'F64'"},
      {"length mismatch", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, 'x'), -1,
       "tensor 'a': holds 8 bytes, but F32 [3] needs 12"},
      {"truncated data", "{" + ok_entry + "}", std::string(4, 'x'), -1, "tensor 'a': data_offsets [0,8] run past the end"},
      {"overlap",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I8","shape":[4],"data_offsets":[4,8]}})",
       std::string(8, 'x'), -1, "tensor 'b': data overlaps tensor 'a'"},
      {"duplicate", "{" + ok_entry + "," + ok_entry + "}", std::string(8, 'x'), -1, "tensor 'a': appears twice"},
      {"negative dim", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, 'x'), -1,
       "bad dimension -2"},
      {"reversed offsets", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, 'x'), -1,
       "bad data_offsets"},
      {"missing shape", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", std::string(8, 'x'), -1, "'shape'"},
      {"huge shape", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
       std::string(8, 'x'), -1, "too large"},
  };
  const fs::path dir = scratch("malformed");
  for (const auto& m : cases) {
    const fs::path p = dir / "model.safetensors";
    write_raw(p, m.header, m.data, m.len_override);
    const std::string msg = open_error(dir);
    EXPECT_THAT(msg, HasSubstr(m.expect)) << m.what;
    EXPECT_THAT(msg, HasSubstr(p.string())) << m.what;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << m.what;
  }
  // a file too short to hold the header length
  { std::ofstream(dir / "model.safetensors", std::ios::binary) << "abc"; }
  EXPECT_THAT(open_error(dir), HasSubstr("truncated (3 bytes"));
  { std::ofstream(dir / "model.safetensors", std::ios::binary); }
  EXPECT_THAT(open_error(dir), HasSubstr("truncated (0 bytes"));
}

TEST(Checkpoint, BadShardSetsGiveOneClearError) {
  {
    const fs::path dir = write_sharded("missing_shard");
    fs::remove(dir / "model-00002-of-00002.safetensors");
    EXPECT_THAT(open_error(dir), HasSubstr("model-00002-of-00002.safetensors: shard missing"));
  }
  {
    const fs::path dir = write_sharded("index_extra");
    write_safetensors_index(dir / "model.safetensors.index.json",
                            {{"x", "model-00001-of-00002.safetensors"},
                             {"y", "model-00001-of-00002.safetensors"},
                             {"w", "model-00001-of-00002.safetensors"},
                             {"z", "model-00002-of-00002.safetensors"}},
                            0);
    EXPECT_THAT(open_error(dir), HasSubstr("tensor 'w': listed in model.safetensors.index.json but absent"));
  }
  {
    const fs::path dir = write_sharded("index_missing");
    write_safetensors_index(dir / "model.safetensors.index.json",
                            {{"x", "model-00001-of-00002.safetensors"}, {"z", "model-00002-of-00002.safetensors"}}, 0);
    EXPECT_THAT(open_error(dir), HasSubstr("tensor 'y': present in the shard but not in model.safetensors.index.json"));
  }
  {
    const fs::path dir = write_sharded("index_wrong_shard");
    write_safetensors_index(dir / "model.safetensors.index.json",
                            {{"x", "model-00001-of-00002.safetensors"},
                             {"y", "model-00001-of-00002.safetensors"},
                             {"z", "model-00001-of-00002.safetensors"}},
                            0);
    EXPECT_THAT(open_error(dir), HasSubstr("tensor 'z': listed in model.safetensors.index.json but absent"));
  }
  {
    const fs::path dir = write_sharded("twice");
    write_specs(dir / "model-00002-of-00002.safetensors", {{"z", DType::F8_E4M3, {3}}, {"x", DType::F32, {4}}}, 2);
    EXPECT_THAT(open_error(dir), HasSubstr("tensor 'x': also present in"));
  }
  {
    const fs::path dir = write_sharded("bad_index");
    std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": {"x": "../etc/passwd"}})";
    EXPECT_THAT(open_error(dir), HasSubstr("not a plain shard file name"));
    std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": )";
    EXPECT_THAT(open_error(dir), HasSubstr("model.safetensors.index.json: invalid JSON"));
    std::ofstream(dir / "model.safetensors.index.json") << R"({"metadata": {}})";
    EXPECT_THAT(open_error(dir), HasSubstr("key 'weight_map': missing"));
  }
  EXPECT_THAT(open_error(scratch("empty_dir")), HasSubstr("no model.safetensors or model.safetensors.index.json"));
  EXPECT_THAT(open_error(scratch("x") / "nope"), HasSubstr("no such file"));
}

// The parser works on a byte buffer (what the fuzz target feeds it); the buffer may be shorter
// than the file as long as it holds the header.
TEST(SafetensorsHeader, ParsesFromABuffer) {
  const std::string h = R"({"t":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}})";
  std::string buf(8, '\0');
  buf[0] = char(h.size());
  buf += h;
  const auto ts = parse_safetensors_header(std::as_bytes(std::span(buf.data(), buf.size())), buf.size() + 8, "mem");
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].offset, 8 + h.size());
  EXPECT_EQ(ts[0].numel(), 4);
  EXPECT_THROW(parse_safetensors_header(std::as_bytes(std::span(buf.data(), buf.size())), buf.size() + 7, "mem"),
               ModelError);
}

}  // namespace
}  // namespace dsv4
