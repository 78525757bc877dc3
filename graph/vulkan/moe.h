// MoE on the GPU (model-spec §3.6; oracle graph/moe.cpp): the router (encode_gate) and the routed
// + shared experts with their combine (encode_moe). Decode (max_rows < kGroupedGemmMinRows) runs a
// per-(row, expert slot) GEMV: it reads only the selected experts' weights, once per pair. Prefill
// recordings sort the pairs by expert on the GPU (count, scan, scatter) and run a grouped GEMM
// whose workgroups each read one expert's weight tile once for up to 32 pairs, dispatched
// indirectly with the GPU-written tile count (shaders/moe/sort_*.comp, grouped_gemm.comp); on
// devices with cooperative matrices (MoeArgs::coopmat) tiles of 64 pairs on tensor-core tiles
// (grouped_gemm_coopmat.comp).
//
// Route buffer layout (written by encode_gate, read by encode_moe): per step row, 2*topk words:
//   int32 ids[topk] (selection order: descending biased score, ties -> lower id; tid2eid order on
//   hash layers) then fp32 weights[topk] (normalised score x route_scale, same order).
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "graph/vulkan/device_weights.h"
#include "vk/recording.h"

namespace dsv4::gpu {

struct GateArgs {
  const DeviceMatrix* gate = nullptr;  // BF16 [E, D]
  vk::BufferRange bias;                // f32 [E] (scored layers; empty on hash layers)
  vk::BufferRange tid2eid;             // int32 [vocab, k] on hash layers (executor converts the I64 tensor), else empty
  vk::BufferRange step, x;             // step descriptor (row tokens for hash routing); x fp32 [max_rows, D]
  vk::BufferRange route;               // out: route_bytes(topk, max_rows) bytes, layout above
  // Optional scratch of gate_logits_bytes() with counters of gate_counters_bytes(), zero-filled
  // before their first use (every dispatch leaves them so; recordings of any max_rows may share
  // them): the logits and scores then come from E/4 workgroups per row, the last of them to finish
  // selecting (moe/gate_logits), instead of one workgroup (moe/gate): same bits, far faster at
  // decode, where one workgroup would stream the whole [E, D] gate alone.
  vk::BufferRange logits, counters;
  // With logits (counters unused): the logits of all rows as one register-tiled product
  // (moe/gate_tiled, 64 rows x 64 experts a workgroup), then a selection workgroup per row
  // (moe/gate_select). Same bits; for prefill, where gate_logits' in-order sums by 4 threads a
  // workgroup take ~10 ms a layer at 4,096 rows.
  bool tiled = false;
  uint32_t max_rows = 0;
  int64_t n_experts = 0, topk = 0;
  float route_scale = 1.f;
};
// Bytes of the route buffer for `max_rows` rows.
uint64_t route_bytes(int64_t topk, uint32_t max_rows);
// Bytes of GateArgs::logits (fp32 scores [max_rows, n_experts]) and GateArgs::counters (uint32
// [max_rows]).
uint64_t gate_logits_bytes(int64_t n_experts, uint32_t max_rows);
uint64_t gate_counters_bytes(uint32_t max_rows);
// Hash layer iff tid2eid is non-empty (then bias is ignored). Scores are graph::router_scores bit
// for bit (sequential fp32 dots, correctly rounded sqrt(softplus)); D must be a multiple of 8.
void encode_gate(Context& ctx, const GateArgs& a, std::vector<vk::Dispatch>& out);

// Recordings for at least this many rows use the grouped GEMM (MoePath::Auto). H100, Flash shapes
// (bench/gpu_moe_bench.cpp, MXFP4, top-6 of 256): the grouped path already wins at 64 rows (19.5
// vs ~30 ms), 2x at 512, 3.4x at 2048; below 64 rows was not measured, so decode batches (few
// rows, most experts hit once) keep the GEMV.
constexpr uint32_t kGroupedGemmMinRows = 64;

enum class MoePath { Auto, Gemv, Grouped };  // Gemv / Grouped force a path (tests, benches)

struct MoeArgs {
  const DeviceMatrix *w1 = nullptr, *w3 = nullptr, *w2 = nullptr;  // routed: stacks of E, FP4 or FP8
  const DeviceMatrix *s1 = nullptr, *s3 = nullptr, *s2 = nullptr;  // shared expert: FP8 (or FP4), count 1
  vk::BufferRange step, x, route, out;  // x fp32 [max_rows, D]; out fp32 [max_rows, D] (bf16 values)
  vk::BufferRange scratch;              // moe_scratch_bytes() bytes
  uint32_t max_rows = 0;
  int64_t dim = 0, inter_dim = 0, topk = 0;  // the shared expert's inter dim must equal inter_dim
  float swiglu_limit = 0.f;
  MoePath path = MoePath::Auto;  // routed stacks of at most 1024 experts on the grouped path
  // false: no combine dispatch; `out` is not written and the expert outputs (moe_parts) are left
  // for the consumer to combine (hc_post with HcPostArgs::parts).
  bool combine = true;
  // Grouped path: the expert GEMMs (routed and shared, MXFP4 or FP8) run on cooperative matrices
  // (grouped_gemm_coopmat.comp, fed by exact fp16 activations) instead of the scalar grouped GEMM.
  // Needs moe_coopmat(ctx) and a scratch sized with coopmat = true.
  bool coopmat = false;
  // Decode path: the expert GEMVs act-quantise their input rows while staging them (same bits)
  // where a row fits the device's shared memory, but for the routed gate/up of unmerged GEMVs,
  // which reads x from one act_quant dispatch beside the router: no act_quant dispatch on the
  // critical path either way.
  bool quantise_in_gemv = false;
  // Decode path: the routed and shared experts' GEMVs as one dispatch each for gate/up and down
  // (expert_gemv_mixed.comp, same bits) where the formats are the released ones (MXFP4 routed,
  // FP8 shared) and the staged row fits; false: a dispatch each (one step row: the shared ones
  // beside the router and the routed ones, needing no barrier between).
  bool merge_shared_gemv = true;
  // Decode path: the MXFP4 expert GEMVs load 16-byte blocks (a scale block of 32 codes) instead
  // of 4-byte words, with half the rows per unit (FP4_WIDE in expert_partials_fp4.glsl). Off: on an
  // H100 it measured slower (gpu_moe_bench ...Wide, merged GEMVs, Flash: gate/up 79.6 vs 58.4 us,
  // down 43.5 vs 40.8; end to end 2.68 vs 2.57-2.61 ms/step); kept to try on other GPUs.
  bool fp4_wide_gemv = false;
};
// Scratch: xq [max_rows, D] | h, hq [max_rows, topk+1, inter] | expert outputs [max_rows, topk+1, D],
// fp32 | the grouped path's sort buffers: indirect args (2 VkDispatchIndirectCommands) | per-expert
// counts, cursors [1024] | tile table uvec4 [max_rows*topk/32 + min(1024, max_rows*topk) + 1] |
// sorted pairs [max_rows*topk]; each region 256-byte aligned. The sort part is sized for the
// largest stack the grouped path takes (1024 experts) since the stack size is not a parameter.
// With `coopmat`, two more regions follow: x and h as exact fp16 activations for the coopmat grouped
// GEMM (graph/vulkan/linear_coopmat.h, CoopmatActLayout).
uint64_t moe_scratch_bytes(int64_t dim, int64_t inter_dim, int64_t topk, uint32_t max_rows, bool coopmat = false);

// Whether the device runs the grouped path's coopmat GEMM (MoeArgs::coopmat): fp16 16x16x16
// cooperative matrices on subgroups of 32 (linear_coopmat_api), fp16 denormals preserved (its
// MXFP4 decode) and 43 KiB of shared memory.
bool moe_coopmat(const Context& ctx);
void encode_moe(Context& ctx, const MoeArgs& a, std::vector<vk::Dispatch>& out);
// The expert outputs in a's scratch: fp32 [max_rows, topk+1, dim], the shared expert last.
vk::BufferRange moe_parts(const MoeArgs& a);

}  // namespace dsv4::gpu
