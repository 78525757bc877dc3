// The dsv4 binary: `make-model` -> `info` round trip for the small presets, `info` on the fixture
// and on the real Flash/Pro configs (model-spec §1.3/§7.2 figures), and every malformed model
// directory giving exactly one "dsv4: error: ..." line and exit status 1 (no crash: the ASan
// build runs this same test against its own sanitized binary).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kData = DSV4_TEST_DATA_DIR;
// One directory per process: CTest runs these tests in parallel.
const fs::path kWork = fs::path(DSV4_BUILD_DIR) / "test_cli" / std::to_string(::getpid());

// Removes this process's scratch directory when the tests are done.
class CleanUp : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(kWork); }
};
[[maybe_unused]] const auto* const kCleanUp = ::testing::AddGlobalTestEnvironment(new CleanUp);

struct CliRun {
  int rc;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

CliRun dsv4(const std::string& args) {
  fs::create_directories(kWork);
  const fs::path out = kWork / "stdout.txt", err = kWork / "stderr.txt";
  const std::string cmd = std::string("'") + DSV4_BINARY + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out), slurp(err)};
}

// A fresh tiny model (written once per test binary) copied to `name`.
fs::path tiny_copy(const std::string& name) {
  static const fs::path base = [] {
    const fs::path p = kWork / "tiny_base";
    fs::remove_all(p);
    const CliRun r = dsv4("make-model --preset tiny --seed 3 --out '" + p.string() + "'");
    EXPECT_EQ(r.rc, 0) << r.err;
    return p;
  }();
  const fs::path p = kWork / name;
  fs::remove_all(p);
  fs::copy(base, p, fs::copy_options::recursive);
  return p;
}

// Rewrites one shard's header with `edit` (data bytes kept; offsets are relative to the data).
void edit_header(const fs::path& shard, const std::function<void(json&)>& edit) {
  const std::string all = slurp(shard);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(all[size_t(i)]);
  json h = json::parse(all.substr(8, n));
  edit(h);
  const std::string text = h.dump();
  std::ofstream out(shard, std::ios::binary | std::ios::trunc);
  for (int i = 0; i < 8; ++i) out.put(char((uint64_t(text.size()) >> (8 * i)) & 0xff));
  out << text << all.substr(8 + n);
}

void edit_index(const fs::path& dir, const std::function<void(json&)>& edit) {
  json j = json::parse(slurp(dir / "model.safetensors.index.json"));
  edit(j);
  std::ofstream(dir / "model.safetensors.index.json") << j.dump();
}

const char* kShard = "model-00002-of-00007.safetensors";  // layer 0

void expect_one_line_error(const CliRun& r, const std::string& what, const std::string& case_name) {
  EXPECT_EQ(r.rc, 1) << case_name << ": " << r.err;
  EXPECT_THAT(r.err, StartsWith("dsv4: error: ")) << case_name;
  EXPECT_THAT(r.err, HasSubstr(what)) << case_name;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << case_name << ": " << r.err;
}

TEST(Cli, MakeModelThenInfo) {
  const fs::path dir = tiny_copy("roundtrip");
  const CliRun r = dsv4("info --model '" + dir.string() + "' --ctx 1000");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("5 layers + 1 MTP block"));
  EXPECT_THAT(r.out, HasSubstr("7 files, 508 tensors"));
  EXPECT_THAT(r.out, HasSubstr("inventory complete"));
  EXPECT_THAT(r.out, HasSubstr("KV cache at ctx 1,000"));
  const fs::path small = kWork / "small";
  fs::remove_all(small);
  const CliRun m = dsv4("make-model --preset small --layers 2 --out '" + small.string() + "'");
  ASSERT_EQ(m.rc, 0) << m.err;
  EXPECT_THAT(m.err, HasSubstr("100%"));  // progress (plain lines: stderr is not a terminal here)
  EXPECT_EQ(dsv4("info --model '" + small.string() + "'").rc, 0);
  const fs::path base = kWork / "tiny_fp8";
  fs::remove_all(base);
  ASSERT_EQ(dsv4("make-model --preset tiny --experts fp8 --out '" + base.string() + "'").rc, 0);
  const CliRun b = dsv4("info --model '" + base.string() + "'");
  EXPECT_EQ(b.rc, 0) << b.err;
  EXPECT_THAT(b.out, HasSubstr("routed experts (FP8)"));
}

TEST(Cli, InfoOnTheFixture) {
  const CliRun r = dsv4("info --model '" + kData + "/tiny-a'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 x sliding-window (ratio 0)"));
  EXPECT_THAT(r.out, HasSubstr("2 x CSA (ratio 4, indexer)"));
  EXPECT_THAT(r.out, HasSubstr("2 x HCA-like (ratio 16)"));
  EXPECT_THAT(r.out, HasSubstr("8 routed experts (MXFP4), top-2"));
  EXPECT_THAT(r.out, HasSubstr("1 file, 508 tensors"));
}

// The executor's memory plan, hand-checked for tiny-a at ctx 4096: KV entry = 64 e4m3 + 1 e8m0 +
// 64 bf16 = 193 -> 200 B; window 8 x 200 B; ratio 4: 1024 entries x 200 B; index key 32 + 2 = 34 -> 36 B (4-aligned);
// ratio-4 compressor state 8 x 256 x (kv + score) x 4 B = 16 KiB; its indexer's 8 x 128 x 2 x 4 B = 8 KiB.
TEST(Cli, InfoPrintsTheMemoryPlan) {
  const CliRun r = dsv4("info --model '" + kData + "/tiny-a' --ctx 4096 --plan");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("layers\\.0\\.window +window rings +fp8 kv entry 200 B +1\\.6 KiB"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("layers\\.1\\.compressed +compressed kv +fp8 kv entry 200 B +200\\.0 KiB"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("layers\\.1\\.index_keys +index keys +fp4 index key 36 B +36\\.0 KiB"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("layers\\.1\\.compressor_state +compressor states .* 16\\.0 KiB"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("layers\\.1\\.index_state +compressor states .* 8\\.0 KiB"));
  const CliRun summary = dsv4("info --model '" + kData + "/tiny-a'");
  EXPECT_THAT(summary.out, HasSubstr("memory needed on one device (batch 1"));
}

TEST(Cli, InfoOnTheRealConfigs) {
  const CliRun f = dsv4("info --model '" + kData + "/configs/flash'");
  ASSERT_EQ(f.rc, 0) << f.err;
  EXPECT_THAT(f.out, HasSubstr("284B total / 13B active per token"));
  EXPECT_THAT(f.out, HasSubstr("(3.5 KB;"));
  EXPECT_THAT(f.out, HasSubstr("KV cache at ctx 1,048,576: 3.43 GiB"));
  EXPECT_THAT(f.out, HasSubstr("2 x sliding-window"));
  EXPECT_THAT(f.out, HasSubstr("21 x CSA"));
  EXPECT_THAT(f.out, HasSubstr("20 x HCA (ratio 128)"));
  const CliRun p = dsv4("info --model '" + kData + "/configs/pro/config.json'");
  ASSERT_EQ(p.rc, 0) << p.err;
  EXPECT_THAT(p.out, HasSubstr("1.6T total / 49B active per token"));
  EXPECT_THAT(p.out, HasSubstr("(5.0 KB;"));
}

struct BadCase {
  const char* name;
  std::function<void(const fs::path&)> damage;
  const char* expect;
};

TEST(Cli, MalformedModelsGiveOneClearError) {
  const BadCase cases[] = {
      {"truncated shard",
       [](const fs::path& d) { fs::resize_file(d / kShard, fs::file_size(d / kShard) / 2); },
       "run past the end of the file"},
      {"header length past EOF",
       [](const fs::path& d) {
         std::fstream f(d / kShard, std::ios::in | std::ios::out | std::ios::binary);
         const uint64_t n = 50'000'000;
         f.write(reinterpret_cast<const char*>(&n), 8);
       },
       "runs past the end of the file"},
      {"bad JSON",
       [](const fs::path& d) {
         std::fstream f(d / kShard, std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(8);
         f.put('?');
       },
       "header is not valid JSON"},
      {"overlapping offsets",
       [](const fs::path& d) {
         edit_header(d / kShard, [](json& h) {
           h["layers.0.hc_ffn_base"]["data_offsets"] = h["layers.0.hc_attn_base"]["data_offsets"];
         });
       },
       "data overlaps"},
      {"wrong dtype",
       [](const fs::path& d) {
         edit_header(d / kShard, [](json& h) { h["layers.0.attn.attn_sink"]["dtype"] = "I32"; });
       },
       "layers.0.attn.attn_sink (expected F32 [4], found I32 [4]"},
      {"wrong shape",
       [](const fs::path& d) {
         edit_header(d / kShard, [](json& h) { h["layers.0.attn.attn_sink"]["shape"] = {2, 2}; });
       },
       "layers.0.attn.attn_sink (expected F32 [4], found F32 [2, 2]"},
      {"missing shard", [](const fs::path& d) { fs::remove(d / kShard); }, "shard missing"},
      {"missing tensor",
       [](const fs::path& d) {
         edit_header(d / kShard, [](json& h) { h.erase("layers.0.ffn.gate.weight"); });
         edit_index(d, [](json& j) { j["weight_map"].erase("layers.0.ffn.gate.weight"); });
       },
       "layers.0.ffn.gate.weight (expected BF16 [8, 256], found (missing))"},
      {"extra unknown tensor",
       [](const fs::path& d) {
         edit_header(d / kShard, [](json& h) {
           h["layers.0.attn.bogus"] = {{"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
         });
         edit_index(d, [](json& j) { j["weight_map"]["layers.0.attn.bogus"] = kShard; });
       },
       "layers.0.attn.bogus (expected (absent"},
      {"tensor missing from the index",
       [](const fs::path& d) { edit_index(d, [](json& j) { j["weight_map"].erase("layers.0.attn_norm.weight"); }); },
       "not in model.safetensors.index.json"},
      {"bad config", [](const fs::path& d) { std::ofstream(d / "config.json") << "{\"model_type\": 3}"; },
       "key 'model_type'"},
      {"later model",
       [](const fs::path& d) {
         json c = json::parse(slurp(d / "config.json"));
         c["dspark_config"] = json::object();
         std::ofstream(d / "config.json") << c.dump();
       },
       "dspark"},
      {"no config", [](const fs::path& d) { fs::remove(d / "config.json"); }, "config.json: cannot open"},
  };
  for (const auto& c : cases) {
    const fs::path dir = tiny_copy("bad");
    c.damage(dir);
    expect_one_line_error(dsv4("info --model '" + dir.string() + "'"), c.expect, c.name);
  }
  expect_one_line_error(dsv4("info --model /nonexistent/model"), "no such file", "no dir");
}

// Overwrites bytes of `tensor`'s data in `shard`, `at` bytes into the tensor.
void poke(const fs::path& shard, const std::string& tensor, uint64_t at, const std::string& bytes) {
  const std::string all = slurp(shard);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(all[size_t(i)]);
  const json h = json::parse(all.substr(8, n));
  ASSERT_TRUE(h.contains(tensor)) << tensor;
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(8 + n + h[tensor]["data_offsets"][0].get<uint64_t>() + at));
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// The Vulkan backend runs where a device exists: lavapipe here and in CI (this suite is not labelled
// vulkan, so CTest does not set the driver for it).
std::string vulkan_env() {
  const char* lvp = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";
  if (std::getenv("VK_DRIVER_FILES") || !fs::exists(lvp)) return "";
  return std::string("VK_DRIVER_FILES=") + lvp + " ";
}

// NaN/Inf codes in weights and scales: the CPU loader (decode) and the Vulkan loader (streaming
// upload) refuse them with the same single line naming file, tensor and element.
TEST(Cli, NonFiniteWeightsGiveTheSameErrorOnBothLoaders) {
  const bool vulkan = !vulkan_env().empty() || std::getenv("VK_DRIVER_FILES");
  const fs::path layer0 = fs::path(kShard);
  struct Case {
    const char* name;
    const char* tensor;
    uint64_t at;
    std::string bytes;
    const char* expect;
  };
  const Case cases[] = {
      {"e4m3 NaN in an FP8 weight", "layers.0.attn.wq_a.weight", 5, std::string("\x7f", 1),
       "tensor 'layers.0.attn.wq_a.weight': element 5 [0, 5] is NaN (e4m3 code 0x7f)"},
      {"e8m0 NaN in an FP4 scale", "layers.0.ffn.experts.1.w2.scale", 3, std::string("\xff", 1),
       "tensor 'layers.0.ffn.experts.1.w2.scale': element 3 [0, 3] is NaN (e8m0 scale code 0xff)"},
      {"e8m0 NaN in an FP8 scale", "layers.0.attn.wq_b.scale", 0, std::string("\xff", 1),
       "tensor 'layers.0.attn.wq_b.scale': element 0 [0, 0] is NaN (e8m0 scale code 0xff)"},
      {"NaN in a norm weight", "layers.0.attn_norm.weight", 0, "", "tensor 'layers.0.attn_norm.weight': element 7 is"},
  };
  for (const auto& c : cases) {
    const fs::path dir = tiny_copy("nonfinite");
    std::string bytes = c.bytes;
    uint64_t at = c.at;
    if (bytes.empty()) {  // a float NaN whatever the norm's dtype (BF16 or F32)
      const std::string all = slurp(dir / layer0);
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(all[size_t(i)]);
      const std::string dt = json::parse(all.substr(8, n))[c.tensor]["dtype"];
      bytes = dt == "BF16" ? std::string("\xc0\x7f", 2) : std::string("\x00\x00\xc0\x7f", 4);
      at = 7 * bytes.size();
    }
    poke(dir / layer0, c.tensor, at, bytes);
    const CliRun cpu = dsv4("eval" + std::string(" --backend cpu --model '") + dir.string() +
                            "' --tokens 1,2 --prefill 1 --dump-logits '" + (kWork / "l.npy").string() + "'");
    expect_one_line_error(cpu, (dir / layer0).string() + ": " + c.expect, std::string(c.name) + " (cpu)");
    if (!vulkan) continue;
    const std::string cmd = vulkan_env() + "'" + DSV4_BINARY + "' eval --backend vulkan --model '" + dir.string() +
                            "' --tokens 1,2 --prefill 1 --dump-logits '" + (kWork / "l.npy").string() + "' 2>'" +
                            (kWork / "verr.txt").string() + "' >/dev/null";
    const int status = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << c.name << " (vulkan)";
    EXPECT_EQ(slurp(kWork / "verr.txt"), cpu.err) << c.name << " (vulkan)";
  }
}

// Files the model directory may not point at, seen from the CLI.
TEST(Cli, HostileFilesGiveOneClearError) {
  const BadCase cases[] = {
      {"shard symlinked outside the directory",
       [](const fs::path& d) {
         const fs::path outside = d.parent_path() / "outside.safetensors";
         fs::remove(outside);
         fs::rename(d / kShard, outside);
         fs::create_symlink(outside, d / kShard);
       },
       "outside the model directory (refused; DSV4_ALLOW_EXTERNAL_SHARDS=1 allows it)"},
      {"shard is a FIFO",
       [](const fs::path& d) {
         fs::remove(d / kShard);
         ASSERT_EQ(::mkfifo((d / kShard).c_str(), 0600), 0);
       },
       "not a regular file (a FIFO)"},
      {"shard name escapes the directory",
       [](const fs::path& d) {
         edit_index(d, [](json& j) { j["weight_map"]["layers.0.attn_norm.weight"] = "../x.safetensors"; });
       },
       "'../x.safetensors' is not a plain shard file name"},
      {"config.json symlinked outside",
       [](const fs::path& d) {
         const fs::path outside = d.parent_path() / "outside_config.json";
         fs::remove(outside);
         fs::rename(d / "config.json", outside);
         fs::create_symlink(outside, d / "config.json");
       },
       "config.json: symlink to "},
      {"trailing garbage after the header",
       [](const fs::path& d) {
         const std::string all = slurp(d / kShard);
         uint64_t n = 0;
         for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(all[size_t(i)]);
         std::fstream f(d / kShard, std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(std::streamoff(8 + n - 1));  // the writer pads with spaces up to 8-byte alignment
         f.put('x');
       },
       "header is not valid JSON"},
  };
  for (const auto& c : cases) {
    const fs::path dir = tiny_copy("hostile");
    c.damage(dir);
    const CliRun r = dsv4("info --model '" + dir.string() + "'");
    expect_one_line_error(r, c.expect, c.name);
    EXPECT_THAT(r.err, HasSubstr(dir.string())) << c.name;  // names the file
  }
}

TEST(Cli, MakeModelRefusesBadRequests) {
  const fs::path dir = tiny_copy("occupied");
  expect_one_line_error(dsv4("make-model --preset tiny --out '" + dir.string() + "'"), "not empty", "occupied");
  expect_one_line_error(dsv4("make-model --preset flash --layers 50 --out '" + (kWork / "x").string() + "'"),
                        "outside [1, 43]", "too many layers");
  EXPECT_NE(dsv4("make-model --preset nonsense --out x").rc, 0);
}

}  // namespace
