// Replays the fuzz seed corpora and the kept regression inputs (tests/fuzz/) through the parsers
// (model files; batch JSONL lines, whose parser cli/batch_input.cpp is compiled into this suite),
// so every build (and the ASan one) re-checks them without libFuzzer: each input is accepted or
// rejected with a ModelError, nothing else.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "cli/batch_input.h"
#include "weights/error.h"
#include "weights/model_config.h"
#include "weights/model_stats.h"
#include "weights/safetensors.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;
const fs::path kFuzz = fs::path(DSV4_TEST_DATA_DIR) / ".." / "fuzz";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Accepted or ModelError; any other exception fails the test.
template <typename F>
void accepted_or_rejected(const fs::path& input, F&& parse) {
  try {
    parse(slurp(input));
  } catch (const ModelError&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << input << ": unexpected " << e.what();
  }
}

void header(const std::string& s) {
  parse_safetensors_header(std::as_bytes(std::span(s.data(), s.size())), s.size(), "replay");
}

void config(const std::string& s) {
  const auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_discarded()) return;
  const ModelConfig c = parse_model_config(j, "replay");
  (void)kv_stats(c).at_ctx(1 << 20);
}

void index(const std::string& s) { parse_safetensors_index(s, "replay"); }

// regressions/: config_* are config.json inputs, index_* index files, the rest safetensors files.
void (*regression_target(const fs::path& f))(const std::string&) {
  const std::string name = f.filename().string();
  if (name.starts_with("config_")) return config;
  if (name.starts_with("index_")) return index;
  return header;
}

std::vector<fs::path> files(const fs::path& dir, const std::string& prefix = "") {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with(prefix)) out.push_back(e.path());
  return out;
}

// regressions/batch_jsonl_* are batch input lines (cli/batch_input.h), replayed separately.
const char kBatchPrefix[] = "batch_jsonl_";

std::vector<fs::path> model_file_regressions() {
  std::vector<fs::path> out;
  for (const auto& f : files(kFuzz / "regressions"))
    if (!f.filename().string().starts_with(kBatchPrefix)) out.push_back(f);
  return out;
}

TEST(FuzzCorpus, SeedsAndRegressionsReplay) {
  size_t n = 0;
  for (const auto& f : files(kFuzz / "corpus" / "safetensors_header")) accepted_or_rejected(f, header), ++n;
  for (const auto& f : files(kFuzz / "corpus" / "safetensors_index"))
    accepted_or_rejected(f, index), ++n;
  for (const auto& f : files(kFuzz / "corpus" / "config")) {
    EXPECT_NO_THROW(config(slurp(f))) << f;  // the config seeds are all valid models
    ++n;
  }
  for (const auto& f : model_file_regressions()) accepted_or_rejected(f, regression_target(f)), ++n;
  EXPECT_GE(n, 15u);
}

TEST(FuzzCorpus, RegressionsAreRejected) {
  for (const auto& f : model_file_regressions()) EXPECT_THROW(regression_target(f)(slurp(f)), ModelError) << f;
}

// Batch JSONL lines: accepted, or refused with BatchLineError (nothing else); the seeds that are
// valid lines are accepted, the broken ones (bad JSON, invalid UTF-8, raw NUL, deep nesting, wrong
// types, out-of-range numbers, no id) refused, the kept crashers refused.
TEST(FuzzCorpus, BatchJsonlSeedsAndRegressionsReplay) {
  const Tokenizer tok = Tokenizer::load(fs::path(DSV4_TEST_DATA_DIR) / "tokenizer" / "tokenizer.json");
  const cli::BatchLineContext context{tok, "chat", 4096};
  // Returns true when accepted; records a failure for any exception but BatchLineError.
  auto accepted = [&](const fs::path& f) {
    try {
      const auto l = cli::parse_batch_line(slurp(f), context);
      EXPECT_TRUE(l && !l->prompt.empty()) << f;
      return true;
    } catch (const cli::BatchLineError& e) {
      EXPECT_NE(std::string(e.what()), "") << f;
      return false;
    } catch (const std::exception& e) {
      ADD_FAILURE() << f << ": unexpected " << e.what();
      return false;
    }
  };
  const fs::path seeds = kFuzz / "corpus" / "batch_jsonl";
  std::set<std::string> ok;
  size_t n = 0;
  for (const auto& f : files(seeds)) {
    if (accepted(f)) ok.insert(f.filename().string());
    ++n;
  }
  EXPECT_GE(n, 15u);
  EXPECT_EQ(ok, (std::set<std::string>{"prompt_minimal", "messages_think", "messages_multi_turn", "overrides_all",
                                       "unicode_escapes"}));
  for (const auto& f : files(kFuzz / "regressions", kBatchPrefix)) EXPECT_FALSE(accepted(f)) << f;
  // The id survives in the error of a line refused after its id was read.
  try {
    cli::parse_batch_line(slurp(seeds / "out_of_range"), context);
    ADD_FAILURE() << "out_of_range accepted";
  } catch (const cli::BatchLineError& e) {
    EXPECT_EQ(e.id(), nlohmann::json(6));
  }
}

TEST(FuzzCorpus, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::string deep = std::string(1 << 20, '[') + std::string(1 << 20, ']');
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char((uint64_t(deep.size()) >> (8 * i)) & 0xff);
  file += deep;
  EXPECT_THROW(header(file), ModelError);
  EXPECT_THROW(parse_safetensors_index(deep, "deep"), ModelError);
}

}  // namespace
}  // namespace dsv4
