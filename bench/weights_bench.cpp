// Speed of the weights/ paths that scale with model size: header parsing (a Flash shard header
// holds ~1,565 entries), block dequantisation (the CPU reference's inner loop), and the
// synthetic-model writer (make-model must write a Flash-shaped layer in seconds).
#include <benchmark/benchmark.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "weights/dequant.h"
#include "weights/safetensors.h"
#include "weights/safetensors_writer.h"
#include "weights/synthetic_model.h"
#include "weights/tensor_check.h"

namespace {

using namespace dsv4;

// The header of a Flash layer shard (1,565 entries), as make-model writes it.
std::string flash_layer_header_file() {
  SyntheticOptions o;
  o.preset = "flash";
  o.layers = 1;
  const auto plans = plan_shards(synthetic_config(o), synthetic_formats(o));
  const std::string h = safetensors_header(plans[1].specs);
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
  return file + h;
}

void BM_ParseFlashLayerHeader(benchmark::State& state) {
  const std::string file = flash_layer_header_file();
  const uint64_t file_size = file.size() + (uint64_t(1) << 36);  // the data the offsets point into
  for (auto _ : state) {
    auto t = parse_safetensors_header(std::as_bytes(std::span(file.data(), file.size())), file_size, "bench");
    benchmark::DoNotOptimize(t.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(file.size()));
}
BENCHMARK(BM_ParseFlashLayerHeader)->Unit(benchmark::kMillisecond);

// One Flash expert w1 row band: FP4 [2048, 4096] logical with per-32 E8M0 scales.
void BM_DequantFp4Rows(benchmark::State& state) {
  const int64_t rows = 2048, cols = 4096;
  std::vector<uint8_t> q(size_t(rows * cols / 2), 0x5a), s(size_t(rows * cols / 32), 127);
  const TensorView w{DType::I8, {rows, cols / 2}, std::as_bytes(std::span(q))};
  const TensorView sc{DType::F8_E8M0, {rows, cols / 32}, std::as_bytes(std::span(s))};
  std::vector<float> out(size_t(64 * cols));
  int64_t r = 0;
  for (auto _ : state) {
    dequant_fp4_rows(w, sc, r, 64, out.data());
    r = (r + 64) % rows;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 64 * cols);
}
BENCHMARK(BM_DequantFp4Rows);

void BM_DequantFp8Rows(benchmark::State& state) {
  const int64_t rows = 1024, cols = 4096;
  std::vector<uint8_t> q(size_t(rows * cols), 0x3a), s(size_t(8 * 32), 120);
  const TensorView w{DType::F8_E4M3, {rows, cols}, std::as_bytes(std::span(q))};
  const TensorView sc{DType::F8_E8M0, {8, 32}, std::as_bytes(std::span(s))};
  std::vector<float> out(size_t(64 * cols));
  int64_t r = 0;
  for (auto _ : state) {
    dequant_fp8_rows(w, sc, r, 64, out.data());
    r = (r + 64) % rows;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 64 * cols);
}
BENCHMARK(BM_DequantFp8Rows);

// The NaN/Inf scan both loaders run over every weight byte (tensor_check.h), per dtype, on a
// clean buffer (the whole buffer is read): state.range(0) = bytes. 1 MiB stays in cache (the
// scanner's own speed); 256 MiB streams from memory (what a load sees, next to memcpy below).
void BM_ScanNonfinite(benchmark::State& state, DType dtype) {
  const size_t n = size_t(state.range(0));
  std::vector<uint8_t> b(n, 0x38);  // finite in every format: e4m3 1.0, bf16/f16/f32 small normals
  for (auto _ : state) benchmark::DoNotOptimize(find_nonfinite(dtype, std::as_bytes(std::span(b))));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK_CAPTURE(BM_ScanNonfinite, e4m3, DType::F8_E4M3)->Arg(1 << 20)->Arg(256 << 20);
BENCHMARK_CAPTURE(BM_ScanNonfinite, e8m0, DType::F8_E8M0)->Arg(1 << 20)->Arg(256 << 20);
BENCHMARK_CAPTURE(BM_ScanNonfinite, bf16, DType::BF16)->Arg(1 << 20)->Arg(256 << 20);
BENCHMARK_CAPTURE(BM_ScanNonfinite, f16, DType::F16)->Arg(1 << 20)->Arg(256 << 20);
BENCHMARK_CAPTURE(BM_ScanNonfinite, f32, DType::F32)->Arg(1 << 20)->Arg(256 << 20);

// The reference point for the scan: copying the same bytes (what the staging ring does anyway).
void BM_MemcpyReference(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  std::vector<uint8_t> a(n, 0x38), b(n);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK(BM_MemcpyReference)->Arg(1 << 20)->Arg(256 << 20);

// make-model --preset small: all generators and the writer, end to end (~50 MB).
void BM_MakeModelSmall(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / "dsv4_bench_make_model";
  uint64_t bytes = 0;
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    SyntheticOptions o;
    o.preset = "small";
    write_synthetic_model(o, dir, false, [&](uint64_t done, uint64_t) { bytes = done; });
  }
  std::filesystem::remove_all(dir);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}
BENCHMARK(BM_MakeModelSmall)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
