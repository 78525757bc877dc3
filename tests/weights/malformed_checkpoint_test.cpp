// Hostile checkpoints that parse fine but must still be refused with one clear error: NaN/Inf
// codes in weights and scales (the word-at-a-time scanners against a per-element decode), files
// that change or vanish under the mmap (fstat re-check, SIGBUS handler), symlinks leaving the
// model directory, non-regular files, unsafe shard names and the remaining header corner cases.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "weights/error.h"
#include "weights/formats.h"
#include "weights/mapped_file.h"
#include "weights/model_config.h"
#include "weights/model_files.h"
#include "weights/safetensors.h"
#include "weights/safetensors_writer.h"
#include "weights/tensor_check.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// One directory per test (CTest runs each test in its own process, in parallel).
fs::path scratch() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path p = fs::path(DSV4_BUILD_DIR) / "test_malformed" / (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::span<const std::byte> as_bytes(const std::vector<uint8_t>& v) { return std::as_bytes(std::span(v)); }

template <typename T>
std::vector<uint8_t> raw(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// The reference the scanners must agree with: decode the code to a float.
bool decodes_finite(DType t, uint32_t bits) {
  float f = 0;
  switch (t) {
    case DType::F8_E4M3: f = formats::e4m3_to_float(uint8_t(bits)); break;
    case DType::F8_E8M0: f = bits == 0xFF ? NAN : formats::e8m0_to_float(uint8_t(bits)); break;
    case DType::BF16: f = formats::bf16_to_float(uint16_t(bits)); break;
    case DType::F16: f = formats::f16_to_float(uint16_t(bits)); break;
    case DType::F32: std::memcpy(&f, &bits, 4); break;
    default: break;
  }
  return std::isfinite(f);
}

size_t first_nonfinite_by_decoding(DType t, const std::vector<uint8_t>& b) {
  const size_t size = dtype_size(t);
  for (size_t i = 0; i < b.size() / size; ++i) {
    uint32_t bits = 0;
    for (size_t k = 0; k < size; ++k) bits |= uint32_t(b[i * size + k]) << (8 * k);
    if (!decodes_finite(t, bits)) return i;
  }
  return kAllFinite;
}

// Every code of the 8- and 16-bit formats, alone at every position of a buffer that spans a whole
// 256-byte block, a partial block and a partial word: the scanner finds exactly what decoding finds.
void expect_scanner_matches_decoding(DType t, uint32_t codes) {
  const size_t size = dtype_size(t), n = (256 + 64 + 5) / size;  // 325 bytes for 1-byte types
  const uint32_t finite = t == DType::F8_E8M0 ? 0x7F : 0x01;       // e8m0 has no zero: use 2^0
  ASSERT_TRUE(decodes_finite(t, finite));
  for (uint32_t code = 0; code < codes; ++code) {
    const bool bad = !decodes_finite(t, code);
    for (size_t pos : {size_t(0), size_t(7), 256 / size - 1, 256 / size, n - 2, n - 1}) {
      std::vector<uint8_t> b(n * size);
      auto put = [&](size_t i, uint32_t v) {
        for (size_t k = 0; k < size; ++k) b[i * size + k] = uint8_t(v >> (8 * k));
      };
      for (size_t i = 0; i < n; ++i) put(i, finite);
      put(pos, code);
      ASSERT_EQ(find_nonfinite(t, as_bytes(b)), bad ? pos : kAllFinite)
          << dtype_name(t) << " code " << code << " at " << pos;
    }
  }
}

TEST(NonfiniteScan, E4M3AllCodes) { expect_scanner_matches_decoding(DType::F8_E4M3, 256); }
TEST(NonfiniteScan, E8M0AllCodes) { expect_scanner_matches_decoding(DType::F8_E8M0, 256); }
TEST(NonfiniteScan, BF16AllCodes) { expect_scanner_matches_decoding(DType::BF16, 65536); }
TEST(NonfiniteScan, F16AllCodes) { expect_scanner_matches_decoding(DType::F16, 65536); }

TEST(NonfiniteScan, F32BoundaryCodes) {
  std::vector<uint32_t> codes = {0x00000000u, 0x3F800000u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F800000u, 0xFF800000u,
                                 0x7FC00000u, 0x7F800001u, 0xFFFFFFFFu, 0x00800000u, 0x807FFFFFu, 0x7FFFFFFFu};
  for (uint32_t c : codes) {
    for (size_t pos : {size_t(0), size_t(1), size_t(63), size_t(64), size_t(80)}) {
      std::vector<uint32_t> v(81, 0x3F800000u);
      v[pos] = c;
      const std::vector<uint8_t> b = raw(v);
      EXPECT_EQ(find_f32_nonfinite(as_bytes(b)), first_nonfinite_by_decoding(DType::F32, b)) << std::hex << c;
    }
  }
}

TEST(NonfiniteScan, FirstOfSeveralAndEmpty) {
  std::vector<uint8_t> b(1000, 0x38);  // e4m3 1.0
  b[700] = 0xFF;
  b[300] = 0x7F;
  EXPECT_EQ(find_e4m3_nan(as_bytes(b)), 300u);
  EXPECT_EQ(find_e4m3_nan({}), kAllFinite);
  // 0x7F is a finite e8m0 scale (2^0); only 0xFF is NaN.
  std::vector<uint8_t> s(40, 0x7F);
  EXPECT_EQ(find_e8m0_nan(as_bytes(s)), kAllFinite);
  s[39] = 0xFF;
  EXPECT_EQ(find_e8m0_nan(as_bytes(s)), 39u);
}

TEST(NonfiniteScan, PackedFp4AndIntegersHaveNoNonfiniteCodes) {
  std::vector<uint8_t> b(300);
  for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t(i);
  EXPECT_EQ(find_nonfinite(DType::I8, as_bytes(b)), kAllFinite);
  EXPECT_EQ(find_nonfinite(DType::I64, as_bytes(b)), kAllFinite);
  for (int c = 0; c < 16; ++c) EXPECT_TRUE(std::isfinite(formats::e2m1_to_float(uint8_t(c)))) << c;
}

TEST(NonfiniteScan, Descriptions) {
  const std::vector<uint8_t> e4 = {0x38, 0xFF};
  EXPECT_EQ(describe_nonfinite(DType::F8_E4M3, as_bytes(e4), 1), "is NaN (e4m3 code 0xff)");
  const std::vector<uint8_t> bf = raw(std::vector<uint16_t>{0xFF80, 0x7FC1});
  EXPECT_EQ(describe_nonfinite(DType::BF16, as_bytes(bf), 0), "is -Inf (bf16 0xff80)");
  EXPECT_EQ(describe_nonfinite(DType::BF16, as_bytes(bf), 1), "is NaN (bf16 0x7fc1)");
  const std::vector<uint8_t> f = raw(std::vector<uint32_t>{0x7F800000u});
  EXPECT_EQ(describe_nonfinite(DType::F32, as_bytes(f), 0), "is +Inf (f32 0x7f800000)");
}

TEST(NonfiniteScan, CheckFiniteNamesFileTensorAndElement) {
  TensorInfo t;
  t.name = "layers.0.attn.wq_a.weight";
  t.dtype = DType::F8_E4M3;
  t.shape = {4, 16};
  t.file = "/m/shard.safetensors";
  std::vector<uint8_t> b(64, 0x38);
  EXPECT_NO_THROW(check_finite(t, as_bytes(b)));
  b[37] = 0x7F;
  try {
    check_finite(t, as_bytes(b).subspan(32), 32);  // a chunk starting at element 32
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(),
                 "/m/shard.safetensors: tensor 'layers.0.attn.wq_a.weight': element 37 [2, 5] is NaN (e4m3 code 0x7f)");
  }
}

// ---- Through the Checkpoint: what both loaders read with ----------------------------------------

struct Poison {
  const char* tensor;
  size_t byte;
  std::vector<uint8_t> code;
  const char* expect;
};

// One shard: FP8 weight + E8M0 scale, FP4 weight + scale, BF16 norm, F32 (Base-style) scale, F16.
fs::path write_small_shard(const fs::path& dir, const Poison* poison = nullptr) {
  const std::vector<TensorSpec> specs = {{"w8.weight", DType::F8_E4M3, {4, 256}},
                                         {"w8.scale", DType::F8_E8M0, {1, 2}},
                                         {"w4.weight", DType::I8, {4, 32}},
                                         {"w4.scale", DType::F8_E8M0, {4, 2}},
                                         {"norm.weight", DType::BF16, {64}},
                                         {"base.scale", DType::F32, {2, 3}},
                                         {"half", DType::F16, {10}}};
  const fs::path file = dir / "model.safetensors";
  SafetensorsWriter w(file, specs);
  for (const auto& s : specs) {
    std::vector<uint8_t> b(s.nbytes());
    for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t(i * 7);  // includes 0x7F/0xFF bytes...
    if (s.dtype == DType::F8_E4M3) std::fill(b.begin(), b.end(), 0x38);  // ...except where they mean NaN
    if (s.dtype == DType::F8_E8M0) std::fill(b.begin(), b.end(), 0x7F);
    if (s.dtype == DType::BF16) b = raw(std::vector<uint16_t>(b.size() / 2, 0x3F80));
    if (s.dtype == DType::F32) b = raw(std::vector<float>(b.size() / 4, 0.5f));
    if (s.dtype == DType::F16) b = raw(std::vector<uint16_t>(b.size() / 2, 0x3C00));
    if (poison && s.name == poison->tensor) std::memcpy(b.data() + poison->byte, poison->code.data(), poison->code.size());
    w.write(std::as_bytes(std::span(b)));
  }
  w.finish();
  return file;
}

std::string checked_error(const Checkpoint& c, const std::string& tensor) {
  try {
    c.checked_data(c.at(tensor));
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(CheckedData, CleanShardPasses) {
  const Checkpoint c = Checkpoint::open(write_small_shard(scratch()));
  for (const auto& t : c.tensors()) EXPECT_EQ(checked_error(c, t.name), "") << t.name;
}

TEST(CheckedData, EveryPoisonedDtypeNamesFileTensorAndElement) {
  const Poison cases[] = {
      {"w8.weight", 300, {0xFF}, "tensor 'w8.weight': element 300 [1, 44] is NaN (e4m3 code 0xff)"},
      {"w8.weight", 1023, {0x7F}, "tensor 'w8.weight': element 1023 [3, 255] is NaN (e4m3 code 0x7f)"},
      {"w8.scale", 1, {0xFF}, "tensor 'w8.scale': element 1 [0, 1] is NaN (e8m0 scale code 0xff)"},
      {"w4.scale", 5, {0xFF}, "tensor 'w4.scale': element 5 [2, 1] is NaN (e8m0 scale code 0xff)"},
      {"norm.weight", 2 * 17, {0xC0, 0x7F}, "tensor 'norm.weight': element 17 is NaN (bf16 0x7fc0)"},
      {"base.scale", 4 * 5, {0x00, 0x00, 0x80, 0x7F}, "tensor 'base.scale': element 5 [1, 2] is +Inf (f32 0x7f800000)"},
      {"half", 2 * 9, {0x00, 0xFC}, "tensor 'half': element 9 is -Inf (f16 0xfc00)"},
  };
  for (const auto& p : cases) {
    const fs::path file = write_small_shard(scratch(), &p);
    const Checkpoint c = Checkpoint::open(file);
    EXPECT_EQ(checked_error(c, p.tensor), file.string() + ": " + p.expect);
    EXPECT_EQ(checked_error(c, "w4.weight"), "");  // FP4: every byte value is a pair of finite codes
  }
}

// ---- Files changing under the map ----------------------------------------------------------------

TEST(ChangedFile, SizeChangeAfterOpenIsAnError) {
  const fs::path file = write_small_shard(scratch());
  const uint64_t size = fs::file_size(file);
  const Checkpoint c = Checkpoint::open(file);
  EXPECT_EQ(checked_error(c, "norm.weight"), "");
  fs::resize_file(file, size - 100);  // the tail tensors now lie past EOF: reading them would SIGBUS
  const std::string e = checked_error(c, "half");
  EXPECT_EQ(e, file.string() + " changed size while loading (was " + std::to_string(size) + " bytes, now " +
                   std::to_string(size - 100) + "); do not modify a model while dsv4 reads it");
  EXPECT_THROW(c.check_unchanged(c.at("w8.weight")), ModelError);
}

TEST(ChangedFile, RewriteInPlaceIsAnError) {
  const fs::path file = write_small_shard(scratch());
  const Checkpoint c = Checkpoint::open(file);
  const timespec later[2] = {{0, UTIME_OMIT}, {1'000'000'000, 0}};  // as if rewritten: same size, new mtime
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), later, 0), 0);
  EXPECT_THAT(checked_error(c, "w8.weight"), HasSubstr("was modified while loading (its mtime changed)"));
}

// The SIGBUS path: pages of a mapping past the new end of a truncated file fault on access.
TEST(ChangedFileDeathTest, TouchingATruncatedMappingGivesOneLineAndExit1) {
  const fs::path file = scratch() / "big.safetensors";
  {
    SafetensorsWriter w(file, {{"big", DType::BF16, {64 * 1024}}});
    const std::vector<uint16_t> v(64 * 1024, 0x3F80);
    w.write(std::as_bytes(std::span(v)));
    w.finish();
  }
  const uint64_t last = [&] {
    const Checkpoint c = Checkpoint::open(file);
    return c.at("big").offset + c.at("big").nbytes - 1;  // the byte the statement below touches
  }();
  const std::string expected = "dsv4: error: .*big\\.safetensors: the file changed \\(truncated\\?\\) while mapped; "
                               "reading offset " + std::to_string(last) + " failed\n";
  EXPECT_EXIT(
      {
        const Checkpoint c = Checkpoint::open(file);
        const TensorInfo& t = c.at("big");
        fs::resize_file(file, 0);
        const volatile std::byte* p = c.data(t).data();
        (void)p[t.nbytes - 1];
      },
      ::testing::ExitedWithCode(1), expected);
}

TEST(ChangedFileDeathTest, ForeignSigbusKeepsItsDefaultAction) {
  install_mapped_file_sigbus_handler();
  EXPECT_DEATH(::raise(SIGBUS), "");  // not in any mapping: not reported as a changed file
}

// ---- Symlinks, non-regular files, shard names ----------------------------------------------------

std::string open_error(const fs::path& p) {
  try {
    Checkpoint::open(p);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelFiles, SymlinkInsideTheDirectoryIsFine) {
  const fs::path d = scratch();
  fs::create_directories(d / "m" / "sub");
  fs::rename(write_small_shard(d / "m"), d / "m" / "sub" / "real.safetensors");
  fs::create_symlink("sub/real.safetensors", d / "m" / "model.safetensors");
  EXPECT_EQ(open_error(d / "m"), "");
}

TEST(ModelFiles, SymlinkOutsideTheDirectoryIsRefusedUnlessAllowed) {
  const fs::path d = scratch();
  fs::create_directories(d / "m");
  const fs::path outside = write_small_shard(d);
  fs::create_symlink(outside, d / "m" / "model.safetensors");
  EXPECT_EQ(open_error(d / "m"), (d / "m" / "model.safetensors").string() + ": symlink to " +
                                     fs::canonical(outside).string() +
                                     ", outside the model directory (refused; DSV4_ALLOW_EXTERNAL_SHARDS=1 allows it)");
  ::setenv("DSV4_ALLOW_EXTERNAL_SHARDS", "1", 1);
  EXPECT_EQ(open_error(d / "m"), "");
  ::unsetenv("DSV4_ALLOW_EXTERNAL_SHARDS");
  // config.json and tokenizer.json follow the same rule.
  std::ofstream(d / "config.json") << "{}";
  fs::create_symlink(d / "config.json", d / "m" / "config.json");
  EXPECT_THROW(
      try { load_model_config(d / "m"); } catch (const ModelError& e) {
        EXPECT_THAT(e.what(), HasSubstr("config.json: symlink to "));
        throw;
      },
      ModelError);
}

TEST(ModelFiles, HubCacheLayoutIsAllowedButNotAnotherRepositorysBlobs) {
  const fs::path d = scratch();
  const fs::path repo = d / "models--org--m", snap = repo / "snapshots" / "0123abc";
  fs::create_directories(repo / "blobs");
  fs::create_directories(snap);
  fs::rename(write_small_shard(d), repo / "blobs" / "f00d");
  fs::create_symlink("../../blobs/f00d", snap / "model.safetensors");
  EXPECT_EQ(open_error(snap), "");
  const fs::path other = d / "models--org--other" / "blobs";
  fs::create_directories(other);
  fs::rename(repo / "blobs" / "f00d", other / "f00d");
  fs::remove(snap / "model.safetensors");
  fs::create_symlink(other / "f00d", snap / "model.safetensors");
  EXPECT_THAT(open_error(snap), HasSubstr("outside the model directory"));
}

TEST(ModelFiles, NonRegularShardsAreRefused) {
  const fs::path d = scratch();
  ASSERT_EQ(::mkfifo((d / "model.safetensors").c_str(), 0600), 0);
  EXPECT_EQ(open_error(d), (d / "model.safetensors").string() + ": not a regular file (a FIFO)");  // no hang
  fs::remove(d / "model.safetensors");
  fs::create_directory(d / "shard.safetensors");  // a shard the index names
  std::ofstream(d / "model.safetensors.index.json") << R"({"weight_map": {"t": "shard.safetensors"}})";
  EXPECT_EQ(open_error(d), (d / "shard.safetensors").string() + ": not a regular file (a directory)");
  fs::remove(d / "model.safetensors.index.json");
  fs::remove(d / "model.safetensors");
  fs::create_symlink("/dev/zero", d / "model.safetensors");
  EXPECT_THAT(open_error(d), HasSubstr("symlink to /dev/zero, outside the model directory"));
  ::setenv("DSV4_ALLOW_EXTERNAL_SHARDS", "1", 1);
  EXPECT_EQ(open_error(d), (d / "model.safetensors").string() + ": not a regular file (a character device)");
  ::unsetenv("DSV4_ALLOW_EXTERNAL_SHARDS");
}

TEST(ModelFiles, IndexShardNamesMustBePlainFileNames) {
  const fs::path idx = "model.safetensors.index.json";
  for (const std::string bad : {"../model.safetensors", "/etc/passwd", "sub/x.safetensors", "..", "a\\b"}) {
    const std::string text = "{\"weight_map\": {\"t\": " + nlohmann::json(bad).dump() + "}}";
    EXPECT_THROW(
        try { parse_safetensors_index(text, idx); } catch (const ModelError& e) {
          EXPECT_THAT(e.what(), HasSubstr("is not a plain shard file name")) << bad;
          throw;
        },
        ModelError)
        << bad;
  }
  EXPECT_THROW(parse_safetensors_index("{\"weight_map\": {\"t\": \"a\\u0000b\"}}", idx), ModelError);
}

// ---- Header corner cases not covered in safetensors_test.cpp -------------------------------------

std::vector<std::byte> file_bytes(const std::string& header, size_t data_bytes) {
  std::string f(8, '\0');
  for (int i = 0; i < 8; ++i) f[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  f += header + std::string(data_bytes, '\0');
  std::vector<std::byte> b(f.size());
  std::memcpy(b.data(), f.data(), f.size());
  return b;
}

std::string header_error(const std::string& header, size_t data_bytes) {
  const std::vector<std::byte> b = file_bytes(header, data_bytes);
  try {
    parse_safetensors_header(b, b.size(), "f.safetensors");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(HeaderCorners, OffsetsBeyond2To63) {
  EXPECT_THAT(header_error(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[9223372036854775809,9223372036854775813]}})", 8),
              HasSubstr("run past the end of the file"));
  EXPECT_THAT(header_error(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,18446744073709551615]}})", 8),
              HasSubstr("run past the end of the file"));
  EXPECT_THAT(header_error(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,18446744073709551616]}})", 8),
              HasSubstr("bad data_offsets"));
}

TEST(HeaderCorners, ZeroSizedTensors) {
  // A zero dimension is a valid empty tensor when its offsets are empty too...
  EXPECT_EQ(header_error(R"({"e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},)"
                         R"("t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4),
            "");
  // ...but not when they claim bytes.
  EXPECT_THAT(header_error(R"({"e":{"dtype":"F32","shape":[3,0],"data_offsets":[0,4]}})", 4),
              HasSubstr("holds 4 bytes, but F32 [3,0] needs 0"));
}

TEST(HeaderCorners, TrailingGarbageAfterTheObject) {
  EXPECT_THAT(header_error(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}xyz)", 4),
              HasSubstr("header is not valid JSON"));
  // Space padding (what the reference writer uses for alignment) is fine.
  EXPECT_EQ(header_error(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}     )", 4), "");
  EXPECT_THAT(header_error(R"([1,2])", 0), HasSubstr("header is not a JSON object"));
}

}  // namespace
}  // namespace dsv4
