// Manifold-constrained hyper-connections on the device (graph/mhc.h; design.md §6): hc_pre and
// hc_head are one workgroup per token (RMS, mixes, sigmoids, Sinkhorn, collapse), hc_post is
// elementwise in place, and add_bf16 builds the MTP input. All reproduce the CPU reference bit for
// bit (same summation orders; sigmoid/exp/sqrt/division correctly rounded via float-float math,
// shaders/mhc/ff_math.glsl), so tests compare bits.
#pragma once
#include <cstdint>
#include <vector>

#include "graph/vulkan/context.h"
#include "vk/recording.h"

namespace dsv4::gpu {

// hc_{attn,ffn,head}_{fn,base,scale} as F32 device buffers.
struct HcDeviceWeights {
  vk::BufferRange fn;     // fp32 [M, hc*dim]; M = (2+hc)*hc (hc_pre) or hc (hc_head)
  vk::BufferRange base;   // fp32 [M]
  vk::BufferRange scale;  // fp32 [3] (hc_pre) or [1] (hc_head)
};

struct HcPreArgs {
  vk::BufferRange step;
  vk::BufferRange streams;  // fp32 [max_rows, hc, dim] (read)
  HcDeviceWeights w;
  vk::BufferRange y;     // fp32 [max_rows, dim]: bf16(sum_i pre_i X_i)
  vk::BufferRange post;  // fp32 [max_rows, hc], for hc_post
  vk::BufferRange comb;  // fp32 [max_rows, hc*hc] (row j = input stream j), for hc_post
  uint32_t dim = 0, hc = 4, max_rows = 0;
  uint32_t sinkhorn_iters = 20;
  float hc_eps = 1e-6f, norm_eps = 1e-6f;
  // Optional scratch of hc_mix_scratch_bytes(dim, hc, max_rows) bytes (any hc_pre / hc_head may
  // share one): when given, the mixes' per-block dots are spread over many workgroups first
  // (decode: ~30x faster), same bits. Empty: one workgroup per row does everything.
  vk::BufferRange mix_partials = {};
  // Optional, on the split path (mix_partials given): also norm_out = rms_norm(y) with this bf16
  // weight [dim] and eps (graph::rms_norm's bits; the block's attn_norm / ffn_norm that follows
  // hc_pre), one dispatch fewer. hc_pre_fuses_norm() says whether it will.
  vk::BufferRange norm_weight = {}, norm_out = {};
  float rms_eps = 1e-6f;
  // The mix partials (and node sums) are already in mix_partials: an encode_hc_post_pre without
  // its tail wrote them. Only the hc_pre dispatch is recorded.
  bool partials_ready = false;
};

struct HcPostArgs {
  vk::BufferRange step;
  vk::BufferRange f;        // fp32 [max_rows, dim]: the sub-layer output
  vk::BufferRange post;     // fp32 [max_rows, hc] from hc_pre
  vk::BufferRange comb;     // fp32 [max_rows, hc*hc] from hc_pre
  vk::BufferRange streams;  // fp32 [max_rows, hc, dim], updated in place
  uint32_t dim = 0, hc = 4, max_rows = 0;
  // Optional: with parts set, f is the MoE's combine of these (encode_moe with combine off:
  // moe_parts, route) computed in place of reading f, bit for bit moe/combine.comp.
  vk::BufferRange route, parts;
  uint32_t topk = 0;
};

// hc_post fused with the hc_pre right after it (decode): one dispatch where encode_hc_post then
// encode_hc_pre give three, same bits. post.streams holds the old streams and is only read; the
// new ones go to pre.streams, a distinct buffer (out of place: every workgroup reads columns that
// others write). pre.post / pre.comb must be post.post / post.comb: they are read first, then
// overwritten with the next hc_pre's. pre.mix_partials is required. counters: uint32 [max_rows],
// zero before the dispatch and left zero after it (the last workgroup of each row rewinds its own).
// With tail false, the dispatch stops after hc_post and the next hc_pre's mix partials (and node
// sums of squares); encode_hc_pre with pre.partials_ready then runs hc_pre (counters unused).
struct HcPostPreArgs {
  HcPostArgs post;
  HcPreArgs pre;
  vk::BufferRange counters;
  bool tail = true;
};

// Rows written: those that end their sequence in the step (row n_rows-1, or the next row has
// another seq): the last prefill row of each sequence, every row of a decode batch. Other rows of
// y keep their contents.
struct HcHeadArgs {
  vk::BufferRange step;
  vk::BufferRange streams;  // fp32 [max_rows, hc, dim]
  HcDeviceWeights w;        // fn [hc, hc*dim], base [hc], scale [1]
  vk::BufferRange y;        // fp32 [max_rows, dim]
  uint32_t dim = 0, hc = 4, max_rows = 0;
  float hc_eps = 1e-6f, norm_eps = 1e-6f;
  vk::BufferRange mix_partials = {};  // optional scratch, as HcPreArgs::mix_partials
};

// MTP input: out[t, s, :] = bf16(a[t, :] + b[t, s, :]) for rows t < n_rows.
struct AddBf16Args {
  vk::BufferRange step;
  vk::BufferRange a;    // fp32 [max_rows, dim] (e_proj(enorm(embed)))
  vk::BufferRange b;    // fp32 [max_rows, streams, dim] (h_proj(hnorm(X_s)))
  vk::BufferRange out;  // fp32 [max_rows, streams, dim]; distinct from a and b
  uint32_t dim = 0, streams = 4, max_rows = 0;
};

// Bytes of the optional mix_partials scratch of hc_pre and hc_head at these sizes (fp32
// [max_rows, (2+hc)*hc, ceil(hc*dim/512)]).
uint64_t hc_mix_scratch_bytes(uint32_t dim, uint32_t hc, uint32_t max_rows);

// Limits of the kernels: hc <= 4, hc*dim <= 32768.
void encode_hc_pre(Context& ctx, const HcPreArgs& a, std::vector<vk::Dispatch>& out);
bool hc_pre_fuses_norm(const HcPreArgs& a);
void encode_hc_post(Context& ctx, const HcPostArgs& a, std::vector<vk::Dispatch>& out);
// Whether encode_hc_post_pre takes these sizes on this device (its shared memory, hc*dim a multiple
// of 4, the scratch given). The fused norm follows hc_pre_fuses_norm(pre).
// Without the tail the 512-blocks must be the nodes of the squares' tree: hc*dim / 512 a power of two.
bool hc_post_pre_supported(const Context& ctx, const HcPreArgs& pre, bool tail);
void encode_hc_post_pre(Context& ctx, const HcPostPreArgs& a, std::vector<vk::Dispatch>& out);
void encode_hc_head(Context& ctx, const HcHeadArgs& a, std::vector<vk::Dispatch>& out);
void encode_add_bf16(Context& ctx, const AddBf16Args& a, std::vector<vk::Dispatch>& out);

}  // namespace dsv4::gpu
