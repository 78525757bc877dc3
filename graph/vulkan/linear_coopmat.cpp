#include "graph/vulkan/linear_coopmat.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace dsv4::gpu {

namespace {

constexpr uint64_t kTile = 128;     // gemm_coopmat_tiled.comp's BM = BN
constexpr uint64_t kStepK = 32;     // its BK: scratch rows are padded to it
constexpr uint64_t kMaxBlocks = 256;  // gemm_coopmat_quant.comp's MAXB: K <= 32768
constexpr uint64_t kSection = 256;  // scratch sections start at any device's storage offset alignment

uint64_t round_up(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

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
  const vk::Kernel& k = ctx.kernels.get(
      coopmat_kernel(ctx.device, linear_coopmat_api(ctx.device), "linear/gemm_coopmat", 5, sizeof(UntiledPush), spec));
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

CoopmatActLayout scratch_layout(const LinearArgs& a) {
  return coopmat_act_layout(uint64_t(a.max_rows) * uint64_t(a.groups), uint64_t(a.w->cols));
}

// Whether the tiled kernels can serve `a` at all (scratch aside): 128-row tiles must start on a
// weight-scale block in every group, and the quantiser holds <= 256 block maxima per row.
bool tiled_serves(const LinearArgs& a) {
  const int64_t rows_per_group = a.w->rows / a.groups;
  if (a.groups > 1 && rows_per_group % int64_t(kTile) != 0) return false;
  if ((uint64_t(a.w->cols) + 127) / 128 > kMaxBlocks) return false;
  const CoopmatActLayout l = scratch_layout(a);
  return l.virtual_rows * l.kp < (uint64_t(1) << 32) && l.virtual_rows * l.blocks < (uint64_t(1) << 32);
}

bool tiled_scratch_ok(const Context& ctx, const LinearArgs& a) {
  const uint64_t align = std::max<uint64_t>(16, ctx.device.caps().min_storage_buffer_offset_alignment);
  return tiled_serves(a) && a.scratch.size >= scratch_layout(a).total() && a.scratch.offset % align == 0;
}

// Mirrors Push of gemm_coopmat_tiled.comp.
struct TiledPush {
  uint32_t R, K, KP, y_stride, scale_cols, row_base;
  float out_scale;
  uint32_t groups;
};

void encode_tiled(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  const DeviceMatrix& w = *a.w;
  const CoopmatActLayout l = scratch_layout(a);
  const CoopmatActs acts = coopmat_acts(a.scratch, l);
  const uint32_t groups = uint32_t(a.groups);
  encode_coopmat_act_quant(ctx, a.step, a.x, l, acts, groups, uint32_t(a.groups * w.cols), a.label + "/gemm_quant", out,
                           a.act_quant);

  const vk::Kernel& k = ctx.kernels.get(coopmat_kernel(ctx.device, linear_coopmat_api(ctx.device),
                                                      "linear/gemm_coopmat_tiled", 7, sizeof(TiledPush),
                                                      {{2, 0u}, {7, scaled(a) ? 1u : 0u}}));
  for (const RowSlice& s : row_slices(ctx, a)) {
    const TiledPush p{uint32_t(s.rows / a.groups), uint32_t(w.cols),   uint32_t(l.kp), uint32_t(w.rows),
                      uint32_t(l.blocks),          s.row_base,         a.out_scale,    groups};
    out.push_back({&k,
                   {{a.step, vk::Access::Read},
                    {acts.act, vk::Access::Read},
                    {acts.info, vk::Access::Read},
                    {acts.exps, vk::Access::Read},
                    {s.data, vk::Access::Read},
                    {w.scale, vk::Access::Read},
                    {a.y, vk::Access::Write}},
                   vk::push_words(p),
                   {groups_for(p.R, kTile), groups, groups_for(a.max_rows, kTile)},
                   std::nullopt,
                   a.label + "/gemm_coopmat"});
  }
}

bool has_fp16_16x16x16(const std::vector<vk::CoopMatShape>& shapes) {
  for (const vk::CoopMatShape& s : shapes) {
    if (s.m == 16 && s.n == 16 && s.k == 16 && s.a_type == "float16" && s.b_type == "float16" &&
        s.c_type == "float32" && s.result_type == "float32" && s.scope == "subgroup") {
      return true;
    }
  }
  return false;
}

// The kernels tile a workgroup as 8 subgroups of 32.
bool subgroups_of_32(const vk::Caps& c) {
  return c.subgroup_size == 32 ||
         (c.subgroup_size_control && c.min_subgroup_size <= 32 && c.max_subgroup_size >= 32);
}

enum class Preference { Auto, Nv, Khr, Off };

Preference preference() {
  const char* v = std::getenv("DSV4_COOPMAT");
  const std::string s = v ? v : "";
  if (s.empty() || s == "auto") return Preference::Auto;
  if (s == "nv") return Preference::Nv;
  if (s == "khr") return Preference::Khr;
  if (s == "off") return Preference::Off;
  throw std::invalid_argument("DSV4_COOPMAT must be nv, khr, off or auto, not '" + s + "'");
}

// Mirrors Push of gemm_coopmat_quant.comp.
struct QuantPush {
  uint32_t K, x_stride, KP, groups;
};

}  // namespace

bool coopmat_serves(const LinearArgs& a) {
  return a.w->format == WeightFormat::FP8 && a.output == LinearOutput::Bf16 && (a.act_quant || tiled_serves(a));
}

CoopmatActLayout coopmat_act_layout(uint64_t virtual_rows, uint64_t K) {
  CoopmatActLayout l;
  l.virtual_rows = virtual_rows;
  l.k = K;
  l.kp = round_up(K, kStepK);
  l.blocks = (K + 127) / 128;
  l.act_bytes = round_up(l.virtual_rows * l.kp * 2, kSection);
  l.info_bytes = round_up(l.virtual_rows * 8, kSection);
  l.exp_bytes = round_up(l.virtual_rows * l.blocks * 4, kSection);
  return l;
}

CoopmatActs coopmat_acts(vk::BufferRange scratch, const CoopmatActLayout& l) {
  return {{scratch.buffer, scratch.offset, l.act_bytes},
          {scratch.buffer, scratch.offset + l.act_bytes, l.info_bytes},
          {scratch.buffer, scratch.offset + l.act_bytes + l.info_bytes, l.exp_bytes}};
}

void encode_coopmat_act_quant(Context& ctx, vk::BufferRange step, vk::BufferRange x, const CoopmatActLayout& l,
                              const CoopmatActs& dst, uint32_t groups, uint32_t x_stride, const std::string& label,
                              std::vector<vk::Dispatch>& out, bool e4m3) {
  if (l.blocks > kMaxBlocks) throw std::invalid_argument(label + ": more than 256 128-column blocks per row");
  const vk::Kernel& quant =
      ctx.kernels.get({"linear/gemm_coopmat_quant", 5, sizeof(QuantPush), {{3, uint32_t(kMaxBlocks)}, {4, e4m3 ? 1u : 0u}}, 0});
  const QuantPush qp{uint32_t(l.k), x_stride, uint32_t(l.kp), groups};
  out.push_back({&quant,
                 {{step, vk::Access::Read},
                  {x, vk::Access::Read},
                  {dst.act, vk::Access::Write},
                  {dst.info, vk::Access::Write},
                  {dst.exps, vk::Access::Write}},
                 vk::push_words(qp),
                 {uint32_t(l.virtual_rows), 1, 1},
                 std::nullopt,
                 label});
}

CoopmatApi linear_coopmat_api(const vk::Device& device) {
  const vk::Caps& c = device.caps();
  const bool usable = c.fp16 && subgroups_of_32(c);
  const bool nv = usable && c.coopmat_nv && c.subgroup_size == 32 && has_fp16_16x16x16(c.coopmat_nv_shapes);
  const bool khr = usable && c.coopmat_khr && has_fp16_16x16x16(c.coopmat_khr_shapes);
  switch (preference()) {
    // KHR first: on an H100 (driver 580) the same kernel runs 7-11% faster through it, and its
    // peak probe reads 631 TFLOP/s against NV's 515 (bench/README.md).
    case Preference::Auto: return khr ? CoopmatApi::Khr : nv ? CoopmatApi::Nv : CoopmatApi::None;
    case Preference::Nv: return nv ? CoopmatApi::Nv : CoopmatApi::None;
    case Preference::Khr: return khr ? CoopmatApi::Khr : CoopmatApi::None;
    case Preference::Off: break;
  }
  return CoopmatApi::None;
}

const char* coopmat_api_name(CoopmatApi api) {
  switch (api) {
    case CoopmatApi::Nv: return "nv";
    case CoopmatApi::Khr: return "khr";
    case CoopmatApi::None: break;
  }
  return "none";
}

vk::KernelDesc coopmat_kernel(const vk::Device& device, CoopmatApi api, const std::string& shader, uint32_t buffers,
                              uint32_t push_constant_bytes, std::vector<vk::SpecConstant> spec) {
  if (api == CoopmatApi::None) throw std::logic_error("coopmat_kernel " + shader + ": no cooperative-matrix API");
  const uint32_t subgroup = device.caps().subgroup_size == 32 ? 0u : 32u;
  return {api == CoopmatApi::Khr ? shader + "_khr" : shader, buffers, push_constant_bytes, std::move(spec), subgroup};
}

uint64_t gemm_coopmat_scratch_bytes(const Context& ctx, const LinearArgs& a) {
  if (!a.w || !coopmat_serves(a) || a.max_rows < 1 || a.groups < 1 || a.w->rows % a.groups != 0 ||
      !has_linear_coopmat(ctx.device) || !tiled_serves(a)) {
    return 0;
  }
  return scratch_layout(a).total();
}

void encode_gemm_coopmat(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  if (!has_linear_coopmat(ctx.device)) {
    throw std::invalid_argument(what(a) + "the device has no fp16 16x16x16 cooperative matrices (NV or KHR) on subgroups of 32");
  }
  // fp16 holds e4m3 values exactly, not arbitrary fp32 activations: act-quantised FP8, or bf16
  // activations (wo_a) through the tiled kernels' per-row scaling.
  const bool aligned = a.w->cols % 16 == 0 && a.x.offset % 16 == 0 && a.w->data.offset % 16 == 0;
  if (!coopmat_serves(a) || !aligned) {
    throw std::invalid_argument(what(a) + "GemmCoopmat serves FP8 weights with bf16 output (aligned x)");
  }
  // 16-row coopmat tiles must not straddle a 128-row weight-scale block.
  if (a.groups > 1 && (a.w->rows / a.groups) % 16 != 0) {
    throw std::invalid_argument(what(a) + "GemmCoopmat needs rows per group % 16 == 0");
  }
  if (tiled_scratch_ok(ctx, a)) return encode_tiled(ctx, a, out);
  if (!a.act_quant) throw std::invalid_argument(what(a) + "GemmCoopmat without act_quant needs the tiled kernels' scratch");
  encode_untiled(ctx, a, out);
}

}  // namespace dsv4::gpu
