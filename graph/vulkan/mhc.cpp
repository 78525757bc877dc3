#include "graph/vulkan/mhc.h"

#include <stdexcept>

#include "graph/vulkan/norms.h"

namespace dsv4::gpu {

namespace {

struct MixPush {  // shaders/mhc/hc_mix.glsl
  uint32_t dim, hc, depth;
  float inv_width, norm_eps, hc_eps;
  uint32_t sinkhorn_iters;
};

MixPush mix_push(uint32_t dim, uint32_t hc, float norm_eps, float hc_eps, uint32_t iters) {
  if (hc == 0 || hc > 4) throw std::invalid_argument("mhc: hc_mult must be in [1, 4]");
  const uint64_t width = uint64_t(hc) * dim;
  if (dim == 0 || width > 32768) throw std::invalid_argument("mhc: hc_mult * dim must be in [1, 32768]");
  return {dim, hc, pairwise_depth(width), 1.0f / float(width), norm_eps, hc_eps, iters};
}

}  // namespace

void encode_hc_pre(Context& ctx, const HcPreArgs& a, std::vector<vk::Dispatch>& out) {
  const MixPush push = mix_push(a.dim, a.hc, a.norm_eps, a.hc_eps, a.sinkhorn_iters);
  const vk::Kernel& k = ctx.kernels.get({"mhc/hc_pre", 8, sizeof(MixPush), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {a.streams, vk::Access::Read},
                  {a.w.fn, vk::Access::Read},
                  {a.w.scale, vk::Access::Read},
                  {a.w.base, vk::Access::Read},
                  {a.y, vk::Access::Write},
                  {a.post, vk::Access::Write},
                  {a.comb, vk::Access::Write}},
                 vk::push_words(push),
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 "hc_pre"});
}

void encode_hc_head(Context& ctx, const HcHeadArgs& a, std::vector<vk::Dispatch>& out) {
  const MixPush push = mix_push(a.dim, a.hc, a.norm_eps, a.hc_eps, 0);
  const vk::Kernel& k = ctx.kernels.get({"mhc/hc_head", 6, sizeof(MixPush), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {a.streams, vk::Access::Read},
                  {a.w.fn, vk::Access::Read},
                  {a.w.scale, vk::Access::Read},
                  {a.w.base, vk::Access::Read},
                  {a.y, vk::Access::Write}},
                 vk::push_words(push),
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 "hc_head"});
}

void encode_hc_post(Context& ctx, const HcPostArgs& a, std::vector<vk::Dispatch>& out) {
  if (a.hc == 0 || a.hc > 4) throw std::invalid_argument("hc_post: hc_mult must be in [1, 4]");
  const uint32_t push[2] = {a.dim, a.hc};
  const vk::Kernel& k = ctx.kernels.get({"mhc/hc_post", 5, sizeof(push), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {a.f, vk::Access::Read},
                  {a.post, vk::Access::Read},
                  {a.comb, vk::Access::Read},
                  {a.streams, vk::Access::ReadWrite}},
                 {push[0], push[1]},
                 {groups_for(a.dim, 256), a.max_rows, 1},
                 std::nullopt,
                 "hc_post"});
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
