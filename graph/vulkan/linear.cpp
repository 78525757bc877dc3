#include "graph/vulkan/linear.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

#include "graph/vulkan/linear_coopmat.h"
#include "graph/vulkan/norms.h"

namespace dsv4::gpu {

namespace {

// Mirrors Push of shaders/linear/gemv.comp, gemm.comp and gemm_coopmat.comp.
struct LinearPush {
  uint32_t R, K, x_stride, y_stride, scale_cols, row_base;
  float out_scale;
  uint32_t norm_depth;  // gemv_q.comp's NORM: pairwise depth of K, fp32(1/K), eps
  float norm_inv_dim, norm_eps;
};

constexpr uint32_t kGemvBlockRows = 16;  // the GEMV kernels keep RPT * MAXM <= 16 accumulators per thread
constexpr uint32_t kGemvAutoRows = 8;    // Auto: GEMV up to this many rows, GEMM beyond
constexpr uint32_t kGemvQScratchBlock = 8;  // gemv_q.comp's activation rows per block with the scratch

uint32_t format_code(WeightFormat f) {
  switch (f) {
    case WeightFormat::FP8: return 0;
    case WeightFormat::BF16: return 2;
    case WeightFormat::F32: return 3;
    case WeightFormat::FP4: break;
  }
  throw std::invalid_argument("encode_linear: FP4 weights are not dense linear layers (routed experts: moe.h)");
}

uint64_t element_bytes(WeightFormat f) { return f == WeightFormat::FP8 ? 1 : f == WeightFormat::BF16 ? 2 : 4; }

void check(const LinearArgs& a) {
  const std::string what = "encode_linear " + a.label + ": ";
  if (!a.w) throw std::invalid_argument(what + "no weight");
  const DeviceMatrix& w = *a.w;
  if (w.count != 1) throw std::invalid_argument(what + "a stack of matrices (count != 1)");
  format_code(w.format);
  if (a.groups < 1 || w.rows % a.groups != 0) throw std::invalid_argument(what + "groups must divide the weight rows");
  if (a.max_rows < 1) throw std::invalid_argument(what + "max_rows must be >= 1");
  if (w.format == WeightFormat::FP8 && (w.cols % 16 != 0 || w.data.offset % 16 != 0)) {
    throw std::invalid_argument(what + "FP8 weights need cols % 16 == 0 and 16-byte aligned data");
  }
  const uint64_t width = uint64_t(a.groups * w.cols);
  if (a.x.size < uint64_t(a.max_rows) * width * 4) throw std::invalid_argument(what + "x is smaller than [max_rows, groups * cols]");
  if (a.y.size < uint64_t(a.max_rows) * uint64_t(w.rows) * 4) throw std::invalid_argument(what + "y is smaller than [max_rows, rows]");
  if (a.max_rows * width >= (uint64_t(1) << 32) || a.max_rows * uint64_t(w.rows) >= (uint64_t(1) << 32) ||
      uint64_t(w.rows) * uint64_t(w.cols) >= (uint64_t(1) << 32)) {
    throw std::invalid_argument(what + "tensor too large for 32-bit element indices");
  }
}

bool quantises(const LinearArgs& a) {
  return a.w->format == WeightFormat::FP8 && a.act_quant && a.output == LinearOutput::Bf16;
}

bool scaled(const LinearArgs& a) { return a.output == LinearOutput::Bf16 && a.out_scale != 1.0f; }

// 16-byte loads need 16-byte aligned rows of x and w (K % 16 == 0 covers every format).
bool vector_loads(const LinearArgs& a) {
  return a.w->cols % 16 == 0 && a.x.offset % 16 == 0 && a.w->data.offset % 16 == 0;
}

// Spec constants shared by the three kernels (ids as in the shaders).
std::vector<vk::SpecConstant> common_spec(const LinearArgs& a) {
  return {{0, format_code(a.w->format)},
          {1, quantises(a) ? 1u : 0u},
          {2, a.output == LinearOutput::F32 ? 1u : 0u},
          {6, vector_loads(a) ? 1u : 0u},
          {7, scaled(a) ? 1u : 0u}};
}

// One dispatch covers weight rows [row_base, row_base + rows): bindings above
// maxStorageBufferRange are split by rows (multiples of 128, so FP8 scale blocks stay whole).
struct RowSlice {
  uint32_t row_base, rows;
  vk::BufferRange data;
};

std::vector<RowSlice> row_slices(const Context& ctx, const LinearArgs& a) {
  const DeviceMatrix& w = *a.w;
  const uint64_t row_bytes = uint64_t(w.cols) * element_bytes(w.format);
  const uint64_t limit = ctx.device.caps().max_storage_buffer_range;
  if (a.groups > 1 || w.data.size <= limit) return {{0, uint32_t(w.rows), w.data}};
  const uint64_t per = limit / row_bytes / 128 * 128;
  if (per == 0) throw std::invalid_argument("encode_linear " + a.label + ": a weight row block exceeds maxStorageBufferRange");
  std::vector<RowSlice> s;
  for (uint64_t r = 0; r < uint64_t(w.rows); r += per) {
    const uint64_t n = std::min<uint64_t>(per, uint64_t(w.rows) - r);
    s.push_back({uint32_t(r), uint32_t(n), {w.data.buffer, w.data.offset + r * row_bytes, n * row_bytes}});
  }
  return s;
}

LinearPush push_for(const LinearArgs& a, const RowSlice& s) {
  const DeviceMatrix& w = *a.w;
  return {uint32_t(s.rows / a.groups),
          uint32_t(w.cols),
          uint32_t(a.groups * w.cols),
          uint32_t(w.rows),
          uint32_t((w.cols + 127) / 128),
          s.row_base,
          a.out_scale,
          pairwise_depth(uint64_t(w.cols)),
          1.0f / float(w.cols),
          a.norm_eps};
}

std::vector<vk::Binding> bindings(const LinearArgs& a, const RowSlice& s) {
  // Non-FP8 weights have no scales: the data range stands in for the unused binding.
  const vk::BufferRange scale = a.w->format == WeightFormat::FP8 ? a.w->scale : s.data;
  return {{a.step, vk::Access::Read}, {a.x, vk::Access::Read}, {s.data, vk::Access::Read},
          {scale, vk::Access::Read}, {a.y, vk::Access::Write}};
}

// GEMV tiling: RPT rows per 32-lane team (more for vocab-sized outputs, fewer workgroups), the
// quantised-x tile KT with MAXM * KT <= 8192 (16 KiB of fp16 in shared memory).
uint32_t gemv_rows_per_team(const LinearArgs& a, uint32_t maxm) {
  const uint32_t cap = std::max(1u, std::min(4u, kGemvBlockRows / maxm));
  if (a.w->rows >= 65536) return cap;
  // Short rows (K < 4096): more rows per team so a workgroup's fixed costs (x quantisation,
  // barriers, the final reduction) are spread over >= ~8 16-byte loads per lane.
  const uint32_t want = uint32_t(std::max<int64_t>(1, 4096 / std::max<int64_t>(1, a.w->cols)));
  return std::min(cap, want);
}

uint32_t gemv_k_tile(uint32_t maxm) { return std::max(512u, 8192u / maxm / 512u * 512u); }

// Activation-row blocks of a GEMV: gl_WorkGroupID.x of gemv.comp and gemv_q.comp.
uint32_t row_blocks(const LinearArgs& a, uint32_t maxm) { return (a.max_rows + maxm - 1) / maxm; }

// Scratch words per (activation row, group) of the act-quant GEMV: K/2 fp16 pairs + one exponent
// per 128-block, padded to 16 bytes (mirrors qs of act_quant.comp and gemv_q.comp). fp16 pairs,
// not fp32: the GEMV's activation reads from L1 limit it more than the conversions.
uint64_t quant_row_words(const DeviceMatrix& w) { return (uint64_t(w.cols) / 2 + uint64_t(w.cols + 127) / 128 + 3) / 4 * 4; }

uint64_t gemv_scratch_bytes(const LinearArgs& a) {
  return uint64_t(a.max_rows) * uint64_t(a.groups) * quant_row_words(*a.w) * 4;
}

// gemv_q.comp's tiling, measured on an H100 (bench/gpu_linear_bench.cpp): one weight load per row
// in flight per iteration with the scratch (UNROLL 1: more only costs registers), each thread on
// ~4 chunks of 16 weights (~8 on matrices of >= 16 Mi weights: fewer, longer-running workgroups)
// of up to 2 rows (4 was slower). Short rows put many rows in a workgroup, long rows spread over
// 256 threads. TPR sets the summation order, so it depends on the weight's shape alone: a row's
// result is the same for every batch size (MAXM and RPT only change the work split).
struct GemvQTiling {
  uint32_t tpr;  // threads per weight row, a power of two <= 256
  uint32_t rpt;  // weight rows per thread (RPT * maxm <= 16)
};

GemvQTiling gemv_q_tiling(const LinearArgs& a, uint32_t maxm) {
  const DeviceMatrix& w = *a.w;
  const bool big = uint64_t(w.rows) * uint64_t(w.cols) >= (uint64_t(16) << 20);
  const uint64_t chunks_per_thread = big ? 8 : 4;
  const uint64_t want = std::max<uint64_t>(1, uint64_t(w.cols) / 16 / chunks_per_thread);
  GemvQTiling t{1, std::max(1u, std::min(2u, kGemvBlockRows / maxm))};
  while (t.tpr < 256 && uint64_t(t.tpr) * 2 <= want) t.tpr *= 2;
  // Fewer rows per thread while that leaves the GPU fewer than ~264 workgroups (short-N shapes).
  while (t.rpt > 1 && uint64_t(w.rows) / (uint64_t(256 / t.tpr) * t.rpt) < 264) t.rpt /= 2;
  return t;
}

// gemv_q.comp's fused variant holds a block's quantised x in shared memory: maxm * K <= 8192
// values (16 KiB of fp16), maxm * ceil(K / 128) <= 64 exponents. The largest such block (<= 16
// rows), 0 where none fits.
uint32_t fused_block_rows(const LinearArgs& a) {
  if (!quantises(a) || !vector_loads(a) || a.w->cols > 8192) return 0;
  const uint32_t k = uint32_t(a.w->cols), nb = (k + 127) / 128;
  return std::min({kGemvBlockRows, 8192u / k, 64u / nb, a.max_rows});
}

// The FP8 act_quant GEMV (gemv_q.comp), in blocks of maxm activation rows: quantising x per
// workgroup into shared memory (fused: one dispatch) or reading act_quant.comp's scratch (two
// dispatches, x quantised once: faster on an H100 at every Flash shape, so the default).
void encode_gemv_q(Context& ctx, const LinearArgs& a, bool fused, uint32_t maxm, std::vector<vk::Dispatch>& out) {
  const DeviceMatrix& w = *a.w;
  vk::BufferRange xq = a.x;
  if (!fused) {
    if (a.scratch.size < gemv_scratch_bytes(a) || a.scratch.offset % 16 != 0) {
      throw std::invalid_argument("encode_linear " + a.label + ": scratch smaller than linear_scratch_bytes or not 16-byte aligned");
    }
    xq = {a.scratch.buffer, a.scratch.offset, gemv_scratch_bytes(a)};
    const vk::Kernel& quant = ctx.kernels.get({"linear/act_quant", 3, sizeof(LinearPush), {{3, a.max_rows}}, 0});
    const LinearPush qp = push_for(a, {0, uint32_t(w.rows), w.data});
    out.push_back({&quant,
                   {{a.step, vk::Access::Read}, {a.x, vk::Access::Read}, {xq, vk::Access::Write}},
                   vk::push_words(qp),
                   {groups_for(uint64_t(w.cols), 128), a.max_rows * uint32_t(a.groups), 1},
                   std::nullopt,
                   a.label + "/act_quant"});
  }
  const GemvQTiling t = gemv_q_tiling(a, maxm);
  // Fused: two chunks' loads per row go out before the quantisation, hiding its latency.
  const uint32_t unroll = fused ? 2u : 1u;
  const bool norm = a.norm != nullptr, heads = a.q_heads != nullptr;
  struct HeadsPush {
    LinearPush linear;
    uint32_t n_heads, head_dim, rope_dim, rope_slot;
    float eps;
  };
  const vk::Kernel& k = ctx.kernels.get({heads ? "linear/gemv_q_heads" : "linear/gemv_q",
                                         heads ? 8u : 6u,
                                         uint32_t(heads ? sizeof(HeadsPush) : sizeof(LinearPush)),
                                         {{1, t.rpt},
                                          {3, maxm},
                                          {4, t.tpr},
                                          {5, unroll},
                                          {7, scaled(a) ? 1u : 0u},
                                          {8, fused ? 1u : 0u},
                                          {9, norm ? 1u : 0u},
                                          {10, heads && a.q_heads->kind == QHeadsTail::Kind::Indexer ? 1u : 0u}},
                                         0});
  for (const RowSlice& s : row_slices(ctx, a)) {
    const LinearPush p = push_for(a, s);
    std::vector<vk::Binding> b{{a.step, vk::Access::Read}, {xq, vk::Access::Read}, {s.data, vk::Access::Read},
                               {w.scale, vk::Access::Read}, {a.y, heads ? vk::Access::ReadWrite : vk::Access::Write},
                               {norm ? a.norm->data : w.scale, vk::Access::Read}};  // the scales stand in for no norm
    std::vector<uint32_t> words = vk::push_words(p);
    if (heads) {
      const QHeadsTail& h = *a.q_heads;
      b.push_back({h.rope, vk::Access::Read});
      b.push_back({h.counters, vk::Access::ReadWrite});
      const bool index = h.kind == QHeadsTail::Kind::Indexer;  // as encode_indexer_query, graph::hadamard_rotate
      const float e = index ? float(1.0 / std::sqrt(double(h.head_dim))) : h.eps;
      words = vk::push_words(HeadsPush{p, h.n_heads, h.head_dim, h.rope_dim, h.rope_slot, e});
    }
    out.push_back({&k, std::move(b), std::move(words),
                   {row_blocks(a, maxm), uint32_t(a.groups), groups_for(p.R, 256 / t.tpr * t.rpt)}, std::nullopt,
                   a.label + (heads ? "/gemv_q+q_heads" : "/gemv_q")});
  }
}

// Every FP8 act_quant GEMV with aligned x and K <= 8192, or with a scratch, runs gemv_q.comp
// (one summation order per weight shape: batch-size independent): fed by the scratch where given
// (unless fuse_act_quant and the whole batch fits one fused block), else in fused blocks. Other
// formats, and the act_quant GEMV with neither, run gemv.comp.
struct GemvQPlan {
  bool use = false;    // gemv_q.comp serves the linear
  bool fused = false;  // quantising x per workgroup (else from act_quant's scratch)
  uint32_t maxm = 0;   // activation rows per block
};

GemvQPlan gemv_q_plan(const LinearArgs& a) {
  if (a.norm != nullptr) return {true, true, a.max_rows};  // encode_linear checked linear_fuses_norm
  if (!quantises(a)) return {};
  const uint32_t fused_rows = fused_block_rows(a);
  const bool scratch = a.scratch.size > 0;
  if (fused_rows == a.max_rows && (a.fuse_act_quant || !scratch)) return {true, true, fused_rows};
  if (scratch) return {true, false, std::min(a.max_rows, kGemvQScratchBlock)};
  if (fused_rows > 0) return {true, true, fused_rows};
  return {};
}

void encode_gemv(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  const GemvQPlan plan = gemv_q_plan(a);
  if (plan.use) return encode_gemv_q(ctx, a, plan.fused, plan.maxm, out);
  const uint32_t maxm = std::min(a.max_rows, kGemvBlockRows);
  const uint32_t rpt = gemv_rows_per_team(a, maxm);
  std::vector<vk::SpecConstant> spec = common_spec(a);
  spec.push_back({3, maxm});
  spec.push_back({4, rpt});
  spec.push_back({5, gemv_k_tile(maxm)});
  const vk::Kernel& k = ctx.kernels.get({"linear/gemv", 5, sizeof(LinearPush), spec, 0});
  for (const RowSlice& s : row_slices(ctx, a)) {
    const LinearPush p = push_for(a, s);
    out.push_back({&k, bindings(a, s), vk::push_words(p), {row_blocks(a, maxm), uint32_t(a.groups), groups_for(p.R, 8 * rpt)},
                   std::nullopt, a.label + "/gemv"});
  }
}

void encode_gemm_scalar(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  const vk::Kernel& k = ctx.kernels.get({"linear/gemm", 5, sizeof(LinearPush), common_spec(a), 0});
  for (const RowSlice& s : row_slices(ctx, a)) {
    const LinearPush p = push_for(a, s);
    out.push_back({&k, bindings(a, s), vk::push_words(p),
                   {groups_for(p.R, 64), uint32_t(a.groups), groups_for(a.max_rows, 64)}, std::nullopt,
                   a.label + "/gemm"});
  }
}

}  // namespace

bool linear_fuses_norm(const LinearArgs& a) {
  return a.norm != nullptr && a.groups == 1 && a.norm->cols == a.w->cols && a.norm->format == WeightFormat::BF16 &&
         a.path == LinearPath::Gemv && fused_block_rows(a) == a.max_rows;
}

bool linear_fuses_q_heads(const Context& ctx, const LinearArgs& a) {
  if (a.q_heads == nullptr || a.w == nullptr || a.groups != 1 || resolve_linear_path(ctx, a) != LinearPath::Gemv) return false;
  const GemvQPlan plan = gemv_q_plan(a);
  if (!plan.use || row_slices(ctx, a).size() != 1) return false;
  const QHeadsTail& h = *a.q_heads;
  const GemvQTiling t = gemv_q_tiling(a, plan.maxm);
  const uint64_t rows_wg = 256 / t.tpr * t.rpt, hd = h.head_dim;
  if (hd == 0 || hd % 4 != 0 || h.rope_dim % 2 != 0 || h.rope_dim > hd || uint64_t(a.w->rows) != uint64_t(h.n_heads) * hd)
    return false;
  if (h.kind == QHeadsTail::Kind::Attention ? (hd - h.rope_dim) % 4 != 0 : (!std::has_single_bit(hd) || hd % 32 != 0))
    return false;
  if (hd % rows_wg != 0 && rows_wg % hd != 0) return false;
  const uint64_t heads = uint64_t(plan.maxm) * std::max<uint64_t>(rows_wg / hd, 1);  // staged by one workgroup
  return heads * hd <= 4096 && heads <= 64;  // gemv_q_main.glsl: 16 KiB of xs, head_inv_rms[64]
}

bool has_linear_coopmat(const vk::Device& device) { return linear_coopmat_api(device) != CoopmatApi::None; }

uint64_t linear_scratch_bytes(const Context& ctx, const LinearArgs& a) {
  if (a.w && coopmat_serves(a) && resolve_linear_path(ctx, a) == LinearPath::GemmCoopmat) return gemm_coopmat_scratch_bytes(ctx, a);
  if (!a.w || !quantises(a) || a.max_rows < 1 || resolve_linear_path(ctx, a) != LinearPath::Gemv) return 0;
  return gemv_scratch_bytes(a);
}

LinearPath resolve_linear_path(const Context& ctx, const LinearArgs& a) {
  if (a.path != LinearPath::Auto) return a.path;
  if (a.max_rows <= kGemvAutoRows) return LinearPath::Gemv;
  if (a.w && coopmat_serves(a) && has_linear_coopmat(ctx.device) && (a.groups == 1 || (a.w->rows / a.groups) % 16 == 0)) {
    return LinearPath::GemmCoopmat;
  }
  return LinearPath::GemmScalar;
}

void encode_linear(Context& ctx, const LinearArgs& a, std::vector<vk::Dispatch>& out) {
  check(a);
  if (a.q_heads != nullptr && !linear_fuses_q_heads(ctx, a))
    throw std::invalid_argument("encode_linear " + a.label + ": cannot finish the query heads inside (linear_fuses_q_heads)");
  // linear_fuses_norm asks for the Gemv path, so a fused norm never reaches the GEMMs.
  if (a.norm != nullptr && !linear_fuses_norm(a)) throw std::invalid_argument("encode_linear " + a.label + ": cannot fuse the norm (linear_fuses_norm)");
  switch (resolve_linear_path(ctx, a)) {
    case LinearPath::Gemv: return encode_gemv(ctx, a, out);
    case LinearPath::GemmScalar: return encode_gemm_scalar(ctx, a, out);
    case LinearPath::GemmCoopmat: return encode_gemm_coopmat(ctx, a, out);
    case LinearPath::Auto: break;
  }
  throw std::logic_error("encode_linear: unresolved path");
}

}  // namespace dsv4::gpu
