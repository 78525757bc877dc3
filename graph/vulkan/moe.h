// MoE on the GPU (model-spec §3.6; oracle graph/moe.cpp): the router (encode_gate) and the routed
// + shared experts with their combine (encode_moe). Decode and prefill use the same per-(row,
// expert slot) grouped GEMV: it reads only the selected experts' weights.
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
  uint32_t max_rows = 0;
  int64_t n_experts = 0, topk = 0;
  float route_scale = 1.f;
};
// Bytes of the route buffer for `max_rows` rows.
uint64_t route_bytes(int64_t topk, uint32_t max_rows);
// Hash layer iff tid2eid is non-empty (then bias is ignored).
void encode_gate(Context& ctx, const GateArgs& a, std::vector<vk::Dispatch>& out);

struct MoeArgs {
  const DeviceMatrix *w1 = nullptr, *w3 = nullptr, *w2 = nullptr;  // routed: stacks of E, FP4 or FP8
  const DeviceMatrix *s1 = nullptr, *s3 = nullptr, *s2 = nullptr;  // shared expert: FP8 (or FP4), count 1
  vk::BufferRange step, x, route, out;  // x fp32 [max_rows, D]; out fp32 [max_rows, D] (bf16 values)
  vk::BufferRange scratch;              // moe_scratch_bytes() bytes
  uint32_t max_rows = 0;
  int64_t dim = 0, inter_dim = 0, topk = 0;  // the shared expert's inter dim must equal inter_dim
  float swiglu_limit = 0.f;
};
// Scratch: xq [max_rows, D] | h, hq [max_rows, topk+1, inter] | expert outputs [max_rows, topk+1, D],
// fp32, each region 256-byte aligned.
uint64_t moe_scratch_bytes(int64_t dim, int64_t inter_dim, int64_t topk, uint32_t max_rows);
void encode_moe(Context& ctx, const MoeArgs& a, std::vector<vk::Dispatch>& out);

}  // namespace dsv4::gpu
