// Dense linear layers on the GPU (model-spec §4.2): the semantics of graph::linear (bf16 output,
// FP8 weights with act_quant) and graph::linear_fp32 (fp32 output), plus the grouped wo_a of
// CpuExecutor::attn_output. Weights stay in their checkpoint format (device_weights.h).
//
// Paths: a GEMV for decode (bandwidth-bound, shaders/linear/gemv_q.comp for FP8 with act_quant,
// gemv.comp otherwise), a scalar tiled GEMM for prefill (shaders/linear/gemm.comp) and an NV
// cooperative-matrix GEMM for FP8 weights (shaders/linear/gemm_coopmat.comp) where the device has
// fp16 16x16x16 coopmats. The GEMV serves any number of rows in blocks, and a row's result is
// bit-identical whatever the batch size and the row's position in it (the summation order depends
// on the weight's shape alone; with a scratch or K <= 8192 for FP8 act_quant): decode recordings
// use it for every batch size so that a sequence's tokens do not depend on its batch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/vulkan/context.h"
#include "graph/vulkan/device_weights.h"
#include "vk/recording.h"

namespace dsv4::gpu {

enum class LinearOutput { Bf16, F32 };
enum class LinearPath { Auto, Gemv, GemmScalar, GemmCoopmat };  // Auto: by max_rows and device caps

// A decode wq_b finishing its query heads in the GEMV (shaders/linear/gemv_q_main.glsl Q_HEADS):
// each head, once all its rows are written, by the workgroup that holds it or the last of its
// workgroups, in place on y: attention's q_heads.comp arithmetic (per-head RMS norm with eps, RoPE)
// or the indexer's query.comp arithmetic (RoPE, Hadamard, FP4 round-trip).
// counters: [max_rows, n_heads] uint32, zero before the dispatch and left zero after it.
struct QHeadsTail {
  enum class Kind { Attention, Indexer };
  Kind kind = Kind::Attention;
  vk::BufferRange rope, counters;
  uint32_t n_heads = 0, head_dim = 0, rope_dim = 0, rope_slot = 0;
  float eps = 1e-6f;  // Attention: the norm's eps
};

struct LinearArgs {
  const DeviceMatrix* w = nullptr;  // FP8, BF16 or F32 weight [rows, cols], count 1
  vk::BufferRange step;             // step descriptor (n_rows read on the GPU)
  vk::BufferRange x;                // fp32 [max_rows, groups * w->cols]
  vk::BufferRange y;                // fp32 [max_rows, w->rows]
  uint32_t max_rows = 1;
  bool act_quant = true;            // FP8 weights: quantise x per 1x128 block to e4m3 first (model.py linear()).
                                    // false: wo_a's bf16 einsum over the dequantised weight (no activation quant)
  LinearOutput output = LinearOutput::Bf16;
  int64_t groups = 1;               // wo_a: output rows [g*rows/groups, (g+1)*rows/groups) read x cols [g*cols, (g+1)*cols)
  float out_scale = 1.0f;           // y = bf16(bf16(acc) * out_scale) (indexer weights_proj); 1 = plain
  LinearPath path = LinearPath::Auto;
  vk::BufferRange scratch;          // optional, >= linear_scratch_bytes(*this), 16-byte aligned: the FP8
                                    // act_quant GEMV then quantises x once into it (a separate dispatch)
                                    // instead of once per workgroup (faster); empty: in-kernel
                                    // (gemv_q.comp's fused blocks, gemv.comp past K 8192)
  bool fuse_act_quant = false;      // true: quantise in the GEMV even with a scratch where the whole batch
                                    // fits one workgroup's shared memory (one dispatch instead of two, the
                                    // same results). Alone it measured 1.0-1.9x the pair's time on an H100
                                    // (session 5, before the cheaper decodes); the decode step uses it to
                                    // drop a dependent dispatch (dsv4 bench --act-quant-dispatch compares)
  const DeviceMatrix* norm = nullptr;  // optional BF16 [cols]: x is graph::rms_norm(x, norm, norm_eps)
  float norm_eps = 0.f;                // first, inside the GEMV (only where linear_fuses_norm)
  const QHeadsTail* q_heads = nullptr;  // optional: the query heads finished inside (only where linear_fuses_q_heads)
  std::string label;                // names the dispatches
};

// Whether encode_linear can apply LinearArgs::norm inside the GEMV: the Gemv path asked for, FP8
// act-quant weights whose whole batch fits gemv_q.comp's fused block, one group, a BF16 norm
// weight as wide as x.
bool linear_fuses_norm(const LinearArgs& a);

// Whether encode_linear can finish the query heads of a->q_heads inside the GEMV: the FP8 act-quant
// GEMV in one dispatch of one group, rows = n_heads * head_dim, each workgroup's rows inside one
// head or whole heads, and a workgroup's heads (activation rows x heads x head_dim) within 4,096
// values and 64 heads; for the indexer, head_dim a power of two and a multiple of 32.
bool linear_fuses_q_heads(const Context& ctx, const LinearArgs& a);

// Appends the dispatches of y = linear(x) for the step's rows (rows >= n_rows of y are not
// written). LinearOutput::F32 is graph::linear_fp32: no activation quantisation (act_quant and
// out_scale are ignored). Throws std::invalid_argument on unsupported arguments (FP4 weights,
// FP8 cols not a multiple of 16, groups not dividing rows, GemmCoopmat on a device without it or
// for non-FP8 weights).
void encode_linear(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out);

// Bytes of LinearArgs::scratch the arguments can use (0: this path and format need none). Today:
// FP8 weights with act_quant and bf16 output on the Gemv path: per activation row and group,
// cols/2 words of fp16 pairs + ceil(cols/128) exponent words, rounded up to 4 words; on the
// GemmCoopmat path, gemm_coopmat_scratch_bytes (linear_coopmat.h: without it the slow untiled
// kernel runs). A scratch range may be shared by any
// linears of one recording (the declared accesses order them).
uint64_t linear_scratch_bytes(const Context& ctx, const LinearArgs& a);

// The path Auto picks for these arguments on this device (never Auto).
LinearPath resolve_linear_path(const Context& ctx, const LinearArgs& a);

// Whether the device can run the cooperative-matrix GEMM (linear_coopmat.h: linear_coopmat_api).
bool has_linear_coopmat(const vk::Device& device);

}  // namespace dsv4::gpu
