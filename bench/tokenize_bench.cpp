// Tokenizer speed: loading DeepSeek's 7.8 MB tokenizer.json, encoding ~1 MB of mixed text
// (scripts, emoji, code, whitespace, special literals: the texts of golden_large.jsonl) with a
// cold and a warm pre-token cache, and decoding. Bytes/s of text are reported as counters.
//   ./tokenize_bench [--benchmark_filter=Encode]    (DSV4_TOKENIZER overrides the tokenizer.json)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "weights/tokenizer.h"

namespace {

std::filesystem::path data_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "data" / "tokenizer";
}

std::filesystem::path tokenizer_path() {
  const char* env = std::getenv("DSV4_TOKENIZER");
  return env ? std::filesystem::path(env) : data_dir() / "tokenizer.json";
}

// ~1 MB: the golden_large texts, repeated as needed.
const std::string& mixed_text() {
  static const std::string text = [] {
    std::ifstream in(data_dir() / "golden_large.jsonl");
    std::string all, line;
    std::vector<std::string> texts;
    while (std::getline(in, line)) texts.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
    if (texts.empty()) throw std::runtime_error("golden_large.jsonl not found under " + data_dir().string());
    for (size_t i = 0; all.size() < (1u << 20); ++i) all += texts[i % texts.size()];
    return all;
  }();
  return text;
}

void BM_LoadTokenizer(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(dsv4::Tokenizer::load(tokenizer_path()));
}
BENCHMARK(BM_LoadTokenizer)->Unit(benchmark::kMillisecond);

// A fresh tokenizer per iteration: every pre-token goes through BPE once.
void BM_Encode1MB_ColdCache(benchmark::State& state) {
  const std::string& text = mixed_text();
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<dsv4::Tokenizer> tok = dsv4::Tokenizer::load(tokenizer_path());
    state.ResumeTiming();
    benchmark::DoNotOptimize(tok->encode(text));
    state.PauseTiming();
    tok.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_Encode1MB_ColdCache)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Encode1MB_WarmCache(benchmark::State& state) {
  static const dsv4::Tokenizer tok = dsv4::Tokenizer::load(tokenizer_path());
  const std::string& text = mixed_text();
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode(text));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_Encode1MB_WarmCache)->Unit(benchmark::kMillisecond);

void BM_Decode1MB(benchmark::State& state) {
  static const dsv4::Tokenizer tok = dsv4::Tokenizer::load(tokenizer_path());
  const std::string& text = mixed_text();
  const auto ids = tok.encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_Decode1MB)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
