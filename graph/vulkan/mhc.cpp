#include "graph/vulkan/mhc.h"

#include <algorithm>
#include <stdexcept>

#include "graph/vulkan/norms.h"

namespace dsv4::gpu {

namespace {

struct MixPush {  // shaders/mhc/hc_mix.glsl
  uint32_t dim, hc, depth;
  float inv_width, norm_eps, hc_eps;
  uint32_t sinkhorn_iters;
  uint32_t y_depth;  // hc_pre's fused RMSNorm (HcPreArgs::norm_weight)
  float y_inv_dim, y_eps;
  uint32_t nodes, node_base;  // split path: the node sums of squares (PartialsPush)
  uint32_t topk;              // hc_post_pre with the MoE combine
  uint32_t node_depth;        // hc_post_pre without the tail: pairwise depth of a 512-block
};

struct PartialsPush {  // shaders/mhc/hc_mix_partials.comp
  uint32_t width, outputs, blocks;
  uint32_t nodes, level, sub_depth, node_base;
};

constexpr uint32_t kMixBlockK = 512;  // graph/mhc.cpp kMixesBlockK
constexpr uint32_t kMixRows = 8;          // hc_mix_partials.comp ROWS for prefill recordings
constexpr uint32_t kMixRowsMinRows = 64;  // recordings of at least this many rows (decode stays at 1)

// The split path's sum of squares: hc_mix_partials sums the nodes of graph::pairwise_sum's tree at
// the deepest level with no more nodes than workgroups (blocks), hc_mix.glsl the tree above them.
struct SquareNodes {
  uint32_t level, nodes, sub_depth, node_base;
};

SquareNodes square_nodes(uint32_t dim, uint32_t hc, uint32_t max_rows) {
  const uint64_t width = uint64_t(hc) * dim, blocks = (width + kMixBlockK - 1) / kMixBlockK;
  uint32_t level = 0;
  while ((uint64_t(2) << level) <= blocks) ++level;
  const uint32_t depth = pairwise_depth(width);
  // Nodes hold < 2 * 512 terms, so at most 2^8 pairwise slots below one (the kernel's capacity).
  const uint32_t sub_depth = depth > level ? depth - level : 0;
  if (sub_depth > 8) throw std::logic_error("mhc: square-sum node deeper than hc_mix_partials holds");
  const uint64_t outputs = uint64_t(2 + hc) * hc;  // hc_pre's; hc_head uses the first hc of each row's slots
  return {level, 1u << level, sub_depth, uint32_t(uint64_t(max_rows) * outputs * blocks)};
}

MixPush mix_push(uint32_t dim, uint32_t hc, float norm_eps, float hc_eps, uint32_t iters) {
  if (hc == 0 || hc > 4) throw std::invalid_argument("mhc: hc_mult must be in [1, 4]");
  const uint64_t width = uint64_t(hc) * dim;
  if (dim == 0 || width > 32768) throw std::invalid_argument("mhc: hc_mult * dim must be in [1, 32768]");
  return {dim, hc, pairwise_depth(width), 1.0f / float(width), norm_eps, hc_eps, iters, pairwise_depth(dim),
          1.0f / float(dim), 0.f, 0, 0, 0, 0};
}

// The split path reads fn and the streams as vec4: it needs a width that is a multiple of 4.
bool use_partials(const vk::BufferRange& partials, uint32_t dim, uint32_t hc, uint32_t max_rows) {
  if (partials.buffer == VK_NULL_HANDLE) return false;
  if ((uint64_t(hc) * dim) % 4 != 0) return false;
  if (partials.size < hc_mix_scratch_bytes(dim, hc, max_rows))
    throw std::invalid_argument("mhc: mix_partials smaller than hc_mix_scratch_bytes");
  return true;
}

// The per-block dots of `outputs` mixes and the node sums of squares: one workgroup per
// (512-block, row).
void encode_mix_partials(Context& ctx, const vk::BufferRange& step, const vk::BufferRange& streams,
                         const vk::BufferRange& fn, const vk::BufferRange& partials, uint32_t dim, uint32_t hc,
                         uint32_t outputs, uint32_t max_rows, std::vector<vk::Dispatch>& out) {
  const uint32_t width = hc * dim;
  const SquareNodes n = square_nodes(dim, hc, max_rows);
  const PartialsPush push{width, outputs, groups_for(width, kMixBlockK), n.nodes, n.level, n.sub_depth, n.node_base};
  // Prefill: 8 rows a workgroup share each staged fn chunk (hc_mix_partials.comp ROWS; 8 * 24 mix
  // outputs <= its 256 invocations). Decode keeps one row a workgroup: more workgroups per row.
  // Shared memory: fn_chunk (24 x 65 vec4) and pairwise.glsl's 3 KiB, then 2 KiB of x per row.
  const uint64_t shared = ctx.device.caps().max_compute_shared_memory, base = 24 * 65 * 16 + 3072;
  const uint32_t fit = shared > base ? uint32_t(std::min<uint64_t>(kMixRows, (shared - base) / 2048)) : 1u;
  const uint32_t rows = max_rows >= kMixRowsMinRows && outputs * kMixRows <= 256 ? std::max(fit, 1u) : 1u;
  const vk::Kernel& k = ctx.kernels.get({"mhc/hc_mix_partials", 4, sizeof(PartialsPush), {{0, rows}}, 0});
  out.push_back({&k,
                 {{step, vk::Access::Read},
                  {streams, vk::Access::Read},
                  {fn, vk::Access::Read},
                  {partials, vk::Access::Write}},
                 vk::push_words(push),
                 {push.blocks, groups_for(max_rows, rows), 1},
                 std::nullopt,
                 "hc_mix_partials"});
}

}  // namespace

uint64_t hc_mix_scratch_bytes(uint32_t dim, uint32_t hc, uint32_t max_rows) {
  const uint64_t outputs = uint64_t(2 + hc) * hc;  // hc_pre's; hc_head needs only hc
  const uint64_t blocks = groups_for(uint64_t(hc) * dim, kMixBlockK);
  return uint64_t(max_rows) * (outputs + 1) * blocks * 4;  // the dots, then <= blocks node sums per row
}

// Sinkhorn in one subgroup where subgroups can shuffle and hold the hc x hc matrix.
bool subgroup_sinkhorn(const Context& ctx, uint32_t hc) {
  const vk::Caps& caps = ctx.device.caps();
  return caps.max_subgroup_size >= hc * hc && caps.has_subgroup_operation("shuffle");
}

bool hc_pre_fuses_norm(const HcPreArgs& a) {
  // The fused norm's pairwise tree holds 1024 slots of <= 8 terms (hc_pre_main.glsl PW_MAX_SLOTS).
  return a.norm_weight.buffer != VK_NULL_HANDLE && use_partials(a.mix_partials, a.dim, a.hc, a.max_rows) &&
         (uint64_t(1) << pairwise_depth(a.dim)) <= 1024;
}

namespace {

// Whether hc_pre fuses its norm (hc_pre_fuses_norm), with the norm's buffers checked.
bool checked_fused_norm(const HcPreArgs& a) {
  const bool norm = hc_pre_fuses_norm(a);
  if (norm && (a.norm_weight.size < uint64_t(a.dim) * 2 || a.norm_out.size < uint64_t(a.max_rows) * a.dim * 4))
    throw std::invalid_argument("mhc: hc_pre's fused norm weight or output too small");
  return norm;
}

// Whether hc_post combines the MoE's expert outputs (HcPostArgs::parts), with its arguments checked.
bool checked_combine(const HcPostArgs& a) {
  const bool combine = a.parts.size > 0;
  if (combine && (a.topk == 0 || a.topk > 32 || a.route.size == 0))
    throw std::invalid_argument("hc_post: combining the MoE needs its route and 1 <= topk <= 32");
  return combine;
}

}  // namespace

void encode_hc_pre(Context& ctx, const HcPreArgs& a, std::vector<vk::Dispatch>& out) {
  MixPush push = mix_push(a.dim, a.hc, a.norm_eps, a.hc_eps, a.sinkhorn_iters);
  push.y_eps = a.rms_eps;
  const bool split = use_partials(a.mix_partials, a.dim, a.hc, a.max_rows);
  const bool norm = checked_fused_norm(a);
  if (a.partials_ready && !split) throw std::invalid_argument("hc_pre: partials_ready needs the mix_partials scratch");
  if (split) {
    if (!a.partials_ready)
      encode_mix_partials(ctx, a.step, a.streams, a.w.fn, a.mix_partials, a.dim, a.hc, (2 + a.hc) * a.hc, a.max_rows, out);
    const SquareNodes n = square_nodes(a.dim, a.hc, a.max_rows);
    push.nodes = n.nodes;
    push.node_base = n.node_base;
  }
  // Where subgroups can shuffle and hold the hc x hc Sinkhorn matrix, one subgroup iterates it
  // without workgroup barriers (same bits). The split kernels run two workgroups per row: one
  // collapses the streams (and norms y), the other computes post and Sinkhorn meanwhile.
  const bool sg = split && subgroup_sinkhorn(ctx, a.hc);
  const vk::Kernel& k = ctx.kernels.get({split ? (sg ? "mhc/hc_pre_split_sg" : "mhc/hc_pre_split") : "mhc/hc_pre",
                                         split ? 11u : 8u, sizeof(MixPush), {{0, norm ? 1u : 0u}}, 0});
  vk::Dispatch d{&k,
                 {{a.step, vk::Access::Read},
                  {a.streams, vk::Access::Read},
                  {a.w.fn, vk::Access::Read},
                  {a.w.scale, vk::Access::Read},
                  {a.w.base, vk::Access::Read},
                  {a.y, vk::Access::Write},
                  {a.post, vk::Access::Write},
                  {a.comb, vk::Access::Write}},
                 vk::push_words(push),
                 {a.max_rows, split ? 2u : 1u, 1},
                 std::nullopt,
                 "hc_pre"};
  if (split) {
    d.buffers.push_back({a.mix_partials, vk::Access::Read});
    // Without the fused norm its bindings still need buffers: fn (read) and post (written anyway).
    d.buffers.push_back({norm ? a.norm_weight : a.w.fn, vk::Access::Read});
    d.buffers.push_back({norm ? a.norm_out : a.post, vk::Access::Write});
  }
  out.push_back(std::move(d));
}

void encode_hc_head(Context& ctx, const HcHeadArgs& a, std::vector<vk::Dispatch>& out) {
  MixPush push = mix_push(a.dim, a.hc, a.norm_eps, a.hc_eps, 0);
  const bool split = use_partials(a.mix_partials, a.dim, a.hc, a.max_rows);
  if (split) {
    encode_mix_partials(ctx, a.step, a.streams, a.w.fn, a.mix_partials, a.dim, a.hc, a.hc, a.max_rows, out);
    const SquareNodes n = square_nodes(a.dim, a.hc, a.max_rows);
    push.nodes = n.nodes;
    push.node_base = n.node_base;
  }
  const vk::Kernel& k = ctx.kernels.get({split ? "mhc/hc_head_split" : "mhc/hc_head", split ? 7u : 6u,
                                         sizeof(MixPush), {}, 0});
  vk::Dispatch d{&k,
                 {{a.step, vk::Access::Read},
                  {a.streams, vk::Access::Read},
                  {a.w.fn, vk::Access::Read},
                  {a.w.scale, vk::Access::Read},
                  {a.w.base, vk::Access::Read},
                  {a.y, vk::Access::Write}},
                 vk::push_words(push),
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 "hc_head"};
  if (split) d.buffers.push_back({a.mix_partials, vk::Access::Read});
  out.push_back(std::move(d));
}

void encode_hc_post(Context& ctx, const HcPostArgs& a, std::vector<vk::Dispatch>& out) {
  if (a.hc == 0 || a.hc > 4) throw std::invalid_argument("hc_post: hc_mult must be in [1, 4]");
  const bool combine = checked_combine(a);
  const uint32_t push[3] = {a.dim, a.hc, a.topk};
  const vk::Kernel& k = ctx.kernels.get({"mhc/hc_post", 7, sizeof(push), {{0, combine ? 1u : 0u}}, 0});
  // Unused bindings (f when combining, route and parts otherwise) take a read-only stand-in.
  const vk::BufferRange f = combine ? a.parts : a.f;
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {f, vk::Access::Read},
                  {a.post, vk::Access::Read},
                  {a.comb, vk::Access::Read},
                  {a.streams, vk::Access::ReadWrite},
                  {combine ? a.route : a.post, vk::Access::Read},
                  {combine ? a.parts : a.comb, vk::Access::Read}},
                 {push[0], push[1], push[2]},
                 {groups_for(a.dim, 256), a.max_rows, 1},
                 std::nullopt,
                 "hc_post"});
}

bool hc_post_pre_supported(const Context& ctx, const HcPreArgs& pre, bool tail) {
  // hc_post_pre_main.glsl's shared arrays: ~28.5 KiB.
  constexpr uint32_t kSharedBytes = 30 * 1024;
  const uint64_t width = uint64_t(pre.hc) * pre.dim, blocks = width / kMixBlockK;
  const bool blocks_are_nodes = width % kMixBlockK == 0 && (blocks & (blocks - 1)) == 0;
  return pre.hc >= 1 && pre.hc <= 4 && width <= 32768 && (tail || blocks_are_nodes) &&
         use_partials(pre.mix_partials, pre.dim, pre.hc, pre.max_rows) &&
         ctx.device.caps().max_compute_shared_memory >= kSharedBytes;
}

void encode_hc_post_pre(Context& ctx, const HcPostPreArgs& a, std::vector<vk::Dispatch>& out) {
  const HcPostArgs& q = a.post;
  const HcPreArgs& r = a.pre;
  if (!hc_post_pre_supported(ctx, r, a.tail)) throw std::invalid_argument("hc_post_pre: sizes or device not supported");
  if (q.dim != r.dim || q.hc != r.hc || q.max_rows != r.max_rows)
    throw std::invalid_argument("hc_post_pre: hc_post and hc_pre disagree on dim, hc or rows");
  if (q.post != r.post || q.comb != r.comb)
    throw std::invalid_argument("hc_post_pre: hc_pre must overwrite the post and comb hc_post reads");
  if (q.streams.buffer == r.streams.buffer)
    throw std::invalid_argument("hc_post_pre: the new streams need a buffer of their own");
  if (a.tail && a.counters.size < uint64_t(r.max_rows) * 4) throw std::invalid_argument("hc_post_pre: counters too small");
  const bool combine = checked_combine(q);
  const bool norm = checked_fused_norm(r);
  MixPush push = mix_push(r.dim, r.hc, r.norm_eps, r.hc_eps, r.sinkhorn_iters);
  push.y_eps = r.rms_eps;
  push.topk = q.topk;
  const SquareNodes n = square_nodes(r.dim, r.hc, r.max_rows);
  push.nodes = n.nodes;
  push.node_base = n.node_base;
  push.node_depth = n.sub_depth;
  const bool sg = subgroup_sinkhorn(ctx, r.hc);
  const vk::Kernel& k =
      ctx.kernels.get({sg ? "mhc/hc_post_pre_sg" : "mhc/hc_post_pre", 16, sizeof(MixPush),
                       {{0, norm ? 1u : 0u}, {1, combine ? 1u : 0u}, {2, a.tail ? 1u : 0u}}, 0});
  // Unused bindings take a stand-in of the right access: f when combining, route and parts
  // otherwise, the norm's weight and output without the norm.
  out.push_back({&k,
                 {{r.step, vk::Access::Read},
                  {r.streams, vk::Access::ReadWrite},
                  {r.w.fn, vk::Access::Read},
                  {r.w.scale, vk::Access::Read},
                  {r.w.base, vk::Access::Read},
                  {r.y, vk::Access::ReadWrite},
                  {r.post, vk::Access::ReadWrite},
                  {r.comb, vk::Access::ReadWrite},
                  {r.mix_partials, vk::Access::ReadWrite},
                  {norm ? r.norm_weight : r.w.fn, vk::Access::Read},
                  {norm ? r.norm_out : r.y, vk::Access::ReadWrite},
                  {q.streams, vk::Access::Read},
                  {combine ? q.parts : q.f, vk::Access::Read},
                  {combine ? q.route : r.w.base, vk::Access::Read},
                  {combine ? q.parts : r.w.scale, vk::Access::Read},
                  {a.tail ? a.counters : r.mix_partials, vk::Access::ReadWrite}},
                 vk::push_words(push),
                 {groups_for(uint64_t(r.hc) * r.dim, kMixBlockK), r.max_rows, 1},
                 std::nullopt,
                 a.tail ? "hc_post_pre" : "hc_post_mix"});
}

void encode_add_bf16(Context& ctx, const AddBf16Args& a, std::vector<vk::Dispatch>& out) {
  const uint32_t push[2] = {a.dim, a.streams};
  const vk::Kernel& k = ctx.kernels.get({"mhc/add_bf16", 4, sizeof(push), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {a.a, vk::Access::Read},
                  {a.b, vk::Access::Read},
                  {a.out, vk::Access::Write}},
                 {push[0], push[1]},
                 {groups_for(a.dim, 256), a.streams, a.max_rows},
                 std::nullopt,
                 "add_bf16"});
}

}  // namespace dsv4::gpu
