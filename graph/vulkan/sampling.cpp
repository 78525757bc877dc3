#include "graph/vulkan/sampling.h"

namespace dsv4::gpu {

namespace {

void encode_mark(Context& ctx, vk::BufferRange step, vk::BufferRange ids, bool from_ids, vk::BufferRange presence,
                 uint32_t vocab, uint32_t max_rows, std::vector<vk::Dispatch>& out) {
  const uint32_t push[2] = {vocab, graph::presence_words(vocab)};
  const vk::Kernel& k = ctx.kernels.get({"sample/mark_tokens", 3, sizeof(push), {{0, from_ids ? 1u : 0u}}, 0});
  out.push_back({&k,
                 {{step, vk::Access::Read}, {ids, vk::Access::Read}, {presence, vk::Access::ReadWrite}},
                 {push[0], push[1]},
                 {groups_for(max_rows, 64), 1, 1},
                 std::nullopt,
                 from_ids ? "mark_picks" : "mark_tokens"});
}

}  // namespace

uint64_t sample_scratch_bytes(uint32_t vocab, uint32_t max_rows) { return uint64_t(vocab) * max_rows * 4; }

void encode_sample(Context& ctx, const SampleArgs& a, std::vector<vk::Dispatch>& out) {
  const uint32_t push[3] = {a.vocab, graph::presence_words(a.vocab), a.write_step ? 1u : 0u};
  const vk::Kernel& k = ctx.kernels.get({"sample/sample", 6, sizeof(push), {}, 0});
  out.push_back({&k,
                 {{a.step, a.write_step ? vk::Access::ReadWrite : vk::Access::Read},
                  {a.logits, vk::Access::Read},
                  {a.params, vk::Access::Read},
                  {a.presence, vk::Access::Read},
                  {a.scratch, vk::Access::ReadWrite},
                  {a.ids, vk::Access::Write}},
                 {push[0], push[1], push[2]},
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 "sample"});
  if (a.mark_picks) encode_mark(ctx, a.step, a.ids, true, a.presence, a.vocab, a.max_rows, out);
}

void encode_mark_tokens(Context& ctx, const MarkTokensArgs& a, std::vector<vk::Dispatch>& out) {
  encode_mark(ctx, a.step, a.step, false, a.presence, a.vocab, a.max_rows, out);
}

}  // namespace dsv4::gpu
