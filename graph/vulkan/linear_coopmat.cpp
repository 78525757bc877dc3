#include "graph/vulkan/linear_coopmat.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace dsv4::gpu {

namespace {

constexpr uint64_t kTile = 128;     // gemm_coopmat_tiled.comp's BM = BN
constexpr uint64_t kStepK = 32;     // its BK: scratch rows are padded to it
constexpr uint64_t kMaxBlocks = 256;  // gemm_coopmat_quant.comp's MAXB: K <= 32768
constexpr uint64_t kSection = 256;  // scratch sections start at any device's storage offset alignment

uint64_t round_up(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

bool quantises(const LinearArgs& a) {
  return a.w->format == WeightFormat::FP8 && a.act_quant && a.output == LinearOutput::Bf16;
}

bool scaled(const LinearArgs& a) { return a.output == LinearOutput::Bf16 && a.out_scale != 1.0f; }

std::string what(const LinearArgs& a) { return "encode_linear " + a.label + ": "; }

// One dispatch covers weight rows [row_base, row_base + rows): a weight above
// maxStorageBufferRange is split by rows (multiples of 128, so scale blocks and tiles stay aligned).
struct RowSlice {
  uint32_t row_base, rows;
  vk::BufferRange data;
};

std::vector<RowSlice> row_slices(const Context& ctx, const LinearArgs& a) {
  const DeviceMatrix& w = *a.w;
  const uint64_t row_bytes = uint64_t(w.cols);  // FP8
  const uint64_t limit = ctx.device.caps().max_storage_buffer_range;
  if (a.groups > 1 || w.data.size <= limit) return {{0, uint32_t(w.rows), w.data}};
  const uint64_t per = limit / row_bytes / 128 * 128;
  if (per == 0) throw std::invalid_argument(what(a) + "a weight row block exceeds maxStorageBufferRange");
  std::vector<RowSlice> s;
  for (uint64_t r = 0; r < uint64_t(w.rows); r += per) {
    const uint64_t n = std::min<uint64_t>(per, uint64_t(w.rows) - r);
    s.push_back({uint32_t(r), uint32_t(n), {w.data.buffer, w.data.offset + r * row_bytes, n * row_bytes}});
  }
  return s;
}

// ---- untiled kernel (gemm_coopmat.comp) ----------------------------------------------------------

// Mirrors Push of gemm_coopmat.comp (LinearPush of linear.cpp).
struct UntiledPush {
  uint32_t R, K, x_stride, y_stride, scale_cols, row_base;
  float out_scale;
};

void encode_untiled(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  const DeviceMatrix& w = *a.w;
  const std::vector<vk::SpecConstant> spec = {{0, 0u}, {1, 1u}, {2, 0u}, {6, 1u}, {7, scaled(a) ? 1u : 0u}};
  const vk::Kernel& k = ctx.kernels.get({"linear/gemm_coopmat", 5, sizeof(UntiledPush), spec, 0});
  for (const RowSlice& s : row_slices(ctx, a)) {
    const UntiledPush p{uint32_t(s.rows / a.groups), uint32_t(w.cols),   uint32_t(a.groups * w.cols), uint32_t(w.rows),
                        uint32_t((w.cols + 127) / 128), s.row_base, a.out_scale};
    out.push_back({&k,
                   {{a.step, vk::Access::Read}, {a.x, vk::Access::Read}, {s.data, vk::Access::Read},
                    {w.scale, vk::Access::Read}, {a.y, vk::Access::Write}},
                   vk::push_words(p),
                   {groups_for(p.R, 64), uint32_t(a.groups), groups_for(a.max_rows, 64)},
                   std::nullopt,
                   a.label + "/gemm_coopmat"});
  }
}

// ---- tiled kernel (gemm_coopmat_quant.comp + gemm_coopmat_tiled.comp) ----------------------------

struct ScratchLayout {
  uint64_t virtual_rows, kp, blocks;
  uint64_t act_bytes, info_bytes, exp_bytes;
  uint64_t total() const { return act_bytes + info_bytes + exp_bytes; }
};

ScratchLayout scratch_layout(const LinearArgs& a) {
  ScratchLayout l;
  l.virtual_rows = uint64_t(a.max_rows) * uint64_t(a.groups);
  l.kp = round_up(uint64_t(a.w->cols), kStepK);
  l.blocks = (uint64_t(a.w->cols) + 127) / 128;
  l.act_bytes = round_up(l.virtual_rows * l.kp * 2, kSection);
  l.info_bytes = round_up(l.virtual_rows * 8, kSection);
  l.exp_bytes = round_up(l.virtual_rows * l.blocks * 4, kSection);
  return l;
}

// Whether the tiled kernels can serve `a` at all (scratch aside): 128-row tiles must start on a
// weight-scale block in every group, and the quantiser holds <= 256 block maxima per row.
bool tiled_serves(const LinearArgs& a) {
  const int64_t rows_per_group = a.w->rows / a.groups;
  if (a.groups > 1 && rows_per_group % int64_t(kTile) != 0) return false;
  if ((uint64_t(a.w->cols) + 127) / 128 > kMaxBlocks) return false;
  const ScratchLayout l = scratch_layout(a);
  return l.virtual_rows * l.kp < (uint64_t(1) << 32) && l.virtual_rows * l.blocks < (uint64_t(1) << 32);
}

bool tiled_scratch_ok(const Context& ctx, const LinearArgs& a) {
  const uint64_t align = std::max<uint64_t>(16, ctx.device.caps().min_storage_buffer_offset_alignment);
  return tiled_serves(a) && a.scratch.size >= scratch_layout(a).total() && a.scratch.offset % align == 0;
}

// Mirrors Push of gemm_coopmat_quant.comp.
struct QuantPush {
  uint32_t K, x_stride, KP, groups;
};

// Mirrors Push of gemm_coopmat_tiled.comp.
struct TiledPush {
  uint32_t R, K, KP, y_stride, scale_cols, row_base;
  float out_scale;
  uint32_t groups;
};

void encode_tiled(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  const DeviceMatrix& w = *a.w;
  const ScratchLayout l = scratch_layout(a);
  const vk::BufferRange act{a.scratch.buffer, a.scratch.offset, l.act_bytes};
  const vk::BufferRange info{a.scratch.buffer, a.scratch.offset + l.act_bytes, l.info_bytes};
  const vk::BufferRange exps{a.scratch.buffer, a.scratch.offset + l.act_bytes + l.info_bytes, l.exp_bytes};
  const uint32_t groups = uint32_t(a.groups);

  const vk::Kernel& quant =
      ctx.kernels.get({"linear/gemm_coopmat_quant", 5, sizeof(QuantPush), {{3, uint32_t(kMaxBlocks)}}, 0});
  const QuantPush qp{uint32_t(w.cols), uint32_t(a.groups * w.cols), uint32_t(l.kp), groups};
  out.push_back({&quant,
                 {{a.step, vk::Access::Read},
                  {a.x, vk::Access::Read},
                  {act, vk::Access::Write},
                  {info, vk::Access::Write},
                  {exps, vk::Access::Write}},
                 vk::push_words(qp),
                 {uint32_t(l.virtual_rows), 1, 1},
                 std::nullopt,
                 a.label + "/gemm_quant"});

  const vk::Kernel& k = ctx.kernels.get(
      {"linear/gemm_coopmat_tiled", 7, sizeof(TiledPush), {{2, 0u}, {7, scaled(a) ? 1u : 0u}}, 0});
  for (const RowSlice& s : row_slices(ctx, a)) {
    const TiledPush p{uint32_t(s.rows / a.groups), uint32_t(w.cols),   uint32_t(l.kp), uint32_t(w.rows),
                      uint32_t(l.blocks),          s.row_base,         a.out_scale,    groups};
    out.push_back({&k,
                   {{a.step, vk::Access::Read},
                    {act, vk::Access::Read},
                    {info, vk::Access::Read},
                    {exps, vk::Access::Read},
                    {s.data, vk::Access::Read},
                    {w.scale, vk::Access::Read},
                    {a.y, vk::Access::Write}},
                   vk::push_words(p),
                   {groups_for(p.R, kTile), groups, groups_for(a.max_rows, kTile)},
                   std::nullopt,
                   a.label + "/gemm_coopmat"});
  }
}

}  // namespace

uint64_t gemm_coopmat_scratch_bytes(const Context& ctx, const LinearArgs& a) {
  if (!a.w || a.w->format != WeightFormat::FP8 || !quantises(a) || a.max_rows < 1 || a.groups < 1 ||
      a.w->rows % a.groups != 0 || !has_linear_coopmat(ctx.device) || !tiled_serves(a)) {
    return 0;
  }
  return scratch_layout(a).total();
}

void encode_gemm_coopmat(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  if (!has_linear_coopmat(ctx.device)) {
    throw std::invalid_argument(what(a) + "the device has no fp16 NV cooperative matrices");
  }
  // fp16 holds e4m3 values exactly, not arbitrary fp32 activations: only act-quantised FP8.
  const bool aligned = a.w->cols % 16 == 0 && a.x.offset % 16 == 0 && a.w->data.offset % 16 == 0;
  if (!quantises(a) || !aligned) {
    throw std::invalid_argument(what(a) + "GemmCoopmat serves FP8 weights with act_quant and bf16 output (aligned x)");
  }
  // 16-row coopmat tiles must not straddle a 128-row weight-scale block.
  if (a.groups > 1 && (a.w->rows / a.groups) % 16 != 0) {
    throw std::invalid_argument(what(a) + "GemmCoopmat needs rows per group % 16 == 0");
  }
  if (tiled_scratch_ok(ctx, a)) return encode_tiled(ctx, a, out);
  encode_untiled(ctx, a, out);
}

}  // namespace dsv4::gpu
