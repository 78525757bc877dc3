// CPU reference speed: one decode step and one prefill chunk on synthetic `tiny` and `small`
// models (written to a temporary directory at start-up), and the FP8 linear it spends its time in.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>

#include "graph/linear.h"
#include "graph/model_weights.h"
#include "graph/session.h"
#include "weights/synthetic_model.h"

namespace {

using namespace dsv4;
using namespace dsv4::graph;

std::shared_ptr<const ModelWeights> model(const std::string& preset) {
  static std::map<std::string, std::shared_ptr<const ModelWeights>> cache;
  auto& w = cache[preset];
  if (!w) {
    const auto dir = std::filesystem::temp_directory_path() / ("dsv4_cpu_bench_" + std::to_string(::getpid()));
    SyntheticOptions o;
    o.preset = preset;
    write_synthetic_model(o, dir / preset, true);
    w = std::make_shared<const ModelWeights>(load_model_weights(dir / preset));
    std::filesystem::remove_all(dir);
  }
  return w;
}

std::vector<int64_t> tokens(int64_t n, int64_t vocab) {
  std::mt19937 rng(1);
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = int64_t(rng() % uint64_t(vocab));
  return t;
}

void BM_DecodeStep(benchmark::State& state, const std::string& preset) {
  const auto w = model(preset);
  const auto t = tokens(64, w->cfg.vocab_size);
  Session s(w);
  s.prefill(std::span<const int64_t>(t.data(), 32));
  size_t i = 32;
  for (auto _ : state) {
    if (i == t.size()) {  // keep the context bounded: start a new sequence
      state.PauseTiming();
      s.reset();
      s.prefill(std::span<const int64_t>(t.data(), 32));
      i = 32;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(s.decode(t[i++]));
  }
}
BENCHMARK_CAPTURE(BM_DecodeStep, tiny, std::string("tiny"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeStep, small, std::string("small"))->Unit(benchmark::kMillisecond);

void BM_PrefillChunk(benchmark::State& state, const std::string& preset) {
  const auto w = model(preset);
  const auto t = tokens(state.range(0), w->cfg.vocab_size);
  for (auto _ : state) {
    Session s(w);
    benchmark::DoNotOptimize(s.prefill(t));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_PrefillChunk, tiny, std::string("tiny"))->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PrefillChunk, small, std::string("small"))->Arg(64)->Unit(benchmark::kMillisecond);

void BM_Fp8Linear(benchmark::State& state) {
  Weight w;
  w.name = "bench";
  w.format = WeightFormat::FP8;
  w.rows = state.range(0), w.cols = state.range(1);
  w.values.assign(size_t(w.rows * w.cols), 0.5f);
  std::vector<float> x(size_t(w.cols), 0.25f), y(size_t(w.rows));
  for (auto _ : state) {
    linear(w, x, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * w.rows * w.cols);  // e4m3 bytes a GPU would read
}
BENCHMARK(BM_Fp8Linear)->Args({1024, 4096})->Args({4096, 1024});

}  // namespace

BENCHMARK_MAIN();
