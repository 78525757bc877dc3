#include "graph/vulkan/compressor.h"

#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include "graph/vulkan/cache_layout.h"

namespace dsv4::gpu {

namespace {

constexpr int64_t kMaxWidth = 1024;   // MAX_D of shaders/compressor/emit.comp
constexpr uint32_t kStoreGroup = 256;  // WG of shaders/compressor/store.comp

struct CompressParams {
  uint32_t d, rope_dim, ratio, coff, rope_slot, max_entries;
  float eps, hadamard_scale;
  uint32_t mode, in_stride;
};

struct StoreParams {
  uint32_t d, ratio, coff, in_stride;
};

// Floats between the rows of kv and score.
uint32_t in_stride(const CompressorArgs& a) { return a.in_stride > 0 ? a.in_stride : uint32_t(compressor_coff(a.ratio) * a.d); }

void check(const CompressorArgs& a) {
  if (a.d <= 0 || a.d > kMaxWidth)
    throw std::invalid_argument("encode_compressor: d " + std::to_string(a.d) + " is not in [1, 1024]");
  if (a.kind == CompressorKind::Index && !std::has_single_bit(uint64_t(a.d)))  // the Hadamard's butterflies
    throw std::invalid_argument("encode_compressor: index key width " + std::to_string(a.d) +
                                " is not a power of two");
  if (a.rope_dim < 0 || a.rope_dim % 2 != 0 || a.rope_dim > a.d) throw std::invalid_argument("encode_compressor: rope_dim");
  if (a.ratio <= 0) throw std::invalid_argument("encode_compressor: ratio");
  if (a.max_entries <= 0 || a.max_rows == 0) throw std::invalid_argument("encode_compressor: sizes");
  if (a.in_stride > 0 && a.in_stride < uint32_t(compressor_coff(a.ratio) * a.d))
    throw std::invalid_argument("encode_compressor: in_stride narrower than a row of kv");
}

}  // namespace

int64_t compressor_coff(int64_t ratio) { return ratio == 4 ? 2 : 1; }

uint64_t compressor_state_bytes(int64_t ratio, int64_t d, int64_t seqs) {
  const int64_t coff = compressor_coff(ratio);
  return uint64_t(seqs) * 2 * uint64_t(coff * ratio) * uint64_t(coff * d) * sizeof(float);
}

uint32_t compressor_entry_bytes(CompressorKind kind, int64_t d, int64_t rope_dim) {
  return kind == CompressorKind::Main ? KvEntryLayout{uint32_t(d - rope_dim), uint32_t(rope_dim)}.bytes()
                                      : IndexEntryLayout{uint32_t(d)}.bytes();
}

void encode_compressor(Context& ctx, const CompressorArgs& a, std::vector<vk::Dispatch>& out) {
  check(a);
  const uint32_t coff = uint32_t(compressor_coff(a.ratio));
  const CompressParams p{uint32_t(a.d),
                         uint32_t(a.rope_dim),
                         uint32_t(a.ratio),
                         coff,
                         a.rope_slot,
                         uint32_t(a.max_entries),
                         a.eps,
                         float(1.0 / std::sqrt(double(a.d))),  // as graph::hadamard_rotate
                         a.kind == CompressorKind::Main ? 0u : 1u,
                         in_stride(a)};
  const std::string name = a.kind == CompressorKind::Main ? "compressor" : "indexer.compressor";
  // Emissions first: they read the state as earlier steps left it.
  const vk::Kernel& emit =
      ctx.kernels.get({"compressor/emit", 8, sizeof(CompressParams), {{0, a.store_in_emit ? 1u : 0u}}, 0});
  out.push_back({&emit,
                 {{a.step, vk::Access::Read},
                  {a.rope, vk::Access::Read},
                  {a.kv, vk::Access::Read},
                  {a.score, vk::Access::Read},
                  {a.ape, vk::Access::Read},
                  {a.norm, vk::Access::Read},
                  {a.state, a.store_in_emit ? vk::Access::ReadWrite : vk::Access::Read},
                  {a.cache, vk::Access::Write}},
                 vk::push_words(p),
                 {a.max_rows, 1, 1},
                 std::nullopt,
                 name + ".emit"});
  if (a.store_in_emit) return;
  const StoreParams sp{uint32_t(a.d), uint32_t(a.ratio), coff, in_stride(a)};
  const vk::Kernel& store = ctx.kernels.get({"compressor/store", 5, sizeof(StoreParams), {}, 0});
  out.push_back({&store,
                 {{a.step, vk::Access::Read},
                  {a.kv, vk::Access::Read},
                  {a.score, vk::Access::Read},
                  {a.ape, vk::Access::Read},
                  {a.state, vk::Access::Write}},
                 vk::push_words(sp),
                 {a.max_rows, groups_for(uint64_t(coff) * uint64_t(a.d), kStoreGroup), 1},
                 std::nullopt,
                 name + ".store"});
}

}  // namespace dsv4::gpu
