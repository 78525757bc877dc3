#include "graph/vulkan/moe.h"

#include "graph/vulkan/linear_coopmat.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

namespace dsv4::gpu {

namespace {

constexpr uint32_t kMaxGateExperts = 1024;  // shared arrays of shaders/moe/gate.comp
constexpr uint32_t kMaxTopk = 32;           // order[] of shaders/moe/combine.glsl
constexpr uint32_t kSharedBytes = 32768;    // lavapipe's (and the Vulkan minimum's) shared memory
constexpr uint32_t kTileM = 32;             // pairs per grouped-GEMM tile (TILE_M of sort_scan, grouped_gemm)
constexpr uint32_t kTileN = 64;             // output rows per grouped-GEMM workgroup (TILE_N of grouped_gemm)
constexpr uint32_t kMaxSortExperts = 1024;
// grouped_gemm_coopmat.comp: pairs per tile (BM), output rows per gate/up and down workgroup, shared bytes.
constexpr uint32_t kCoopTileM = 128, kCoopUpRows = 64, kCoopDownRows = 128;
// Its smem (two stages of 128 + 128 staged rows of 5 uvec4), four 128-entry pair arrays, 3 words.
constexpr uint32_t kCoopSharedBytes = 2560 * 16 + 4 * 128 * 4 + 16;

// Shared bytes of an input row staged by the expert GEMVs: a float per column and an exponent per
// 128-block (stage_quant.glsl).
uint64_t staged_row_bytes(int64_t cols) { return uint64_t(cols) * 4 + (uint64_t(cols) / 128 + 1) * 4; }

// Rows per 64-thread unit of expert_gemv: as many as fit next to the staged input row in shared
// memory, up to 8 (each row needs 1 KiB of reduction space).
uint32_t rows_per_unit(int64_t cols) {
  const uint64_t staged = staged_row_bytes(cols);
  if (staged + 1024 > kSharedBytes) throw std::invalid_argument("moe: expert input width " + std::to_string(cols) + " too wide");
  return uint32_t(std::min<uint64_t>(8, (kSharedBytes - staged) / 1024));
}

constexpr uint32_t kFp4RowsPerUnit = 8;  // expert_gemv_fp4: 8 KiB of reduction space (+ the row when it quantises)
constexpr uint64_t kMinGemvWorkgroups = 512;  // per step row: ~4 per SM of an H100

uint64_t align256(uint64_t b) { return (b + 255) / 256 * 256; }

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("moe: " + what);
}

struct GatePush {
  uint32_t dim, n_experts, topk, hash_layer;
  float route_scale;
};

struct QuantPush {
  uint32_t width, units_per_row;
};

struct GemvPush {
  uint32_t rows, cols, topk, n_slots, slot_base, data_stride16, scale_stride;
  float swiglu_limit;
  uint32_t in_per_row, io_slot0;
};

struct CombinePush {
  uint32_t dim, topk;
};

struct SortPush {
  uint32_t topk, n_experts;
};

struct ScanPush {
  uint32_t n_experts, up_col_tiles, down_col_tiles;
};

struct GroupedPush {
  uint32_t rows, cols, topk, shared_expert, data_stride16, scale_stride;
  float swiglu_limit;
  uint32_t in_per_row;
};

struct CoopPush {
  uint32_t rows, cols, kp, nb, topk, shared_expert, data_stride8, scale_stride;
  float swiglu_limit;
  uint32_t in_per_row;
};

// Aligned bytes of each scratch region, in the order of moe.h's comment.
struct ScratchSizes {
  uint64_t xq, h, part, args, counts, tiles, pairs;
  CoopmatActLayout xh, hh;  // coopmat only (else empty)
  uint64_t total() const { return xq + 2 * h + part + args + 2 * counts + tiles + pairs + xh.total() + hh.total(); }
};

ScratchSizes scratch_sizes(int64_t dim, int64_t inter_dim, int64_t topk, uint32_t max_rows, bool coopmat) {
  const uint64_t rows = max_rows, k1 = uint64_t(topk + 1), pairs = rows * uint64_t(topk);
  // sum over experts of ceil(count / kTileM) <= ceil(pairs / kTileM) + (experts with pairs); +1 keeps it non-empty.
  const uint64_t max_tiles = (pairs + kTileM - 1) / kTileM + std::min<uint64_t>(kMaxSortExperts, pairs) + 1;
  return {align256(rows * uint64_t(dim) * 4),
          align256(rows * k1 * uint64_t(inter_dim) * 4),
          align256(rows * k1 * uint64_t(dim) * 4),
          256,
          align256(uint64_t(kMaxSortExperts) * 4),
          align256(max_tiles * 16),
          align256(std::max<uint64_t>(pairs, 1) * 4),
          coopmat ? coopmat_act_layout(rows, uint64_t(dim)) : CoopmatActLayout{},
          coopmat ? coopmat_act_layout(rows * k1, uint64_t(inter_dim)) : CoopmatActLayout{}};
}

struct ScratchLayout {
  vk::BufferRange xq, h, hq, part;
  vk::BufferRange args, counts, cursor, tiles, pairs;  // grouped path only
  CoopmatActLayout xh_layout, hh_layout;               // coopmat grouped path only
  CoopmatActs xh, hh;
};

ScratchLayout scratch_layout(const MoeArgs& a) {
  const ScratchSizes z = scratch_sizes(a.dim, a.inter_dim, a.topk, a.max_rows, a.coopmat);
  uint64_t off = 0;
  const auto next = [&](uint64_t size) {
    const vk::BufferRange r{a.scratch.buffer, a.scratch.offset + off, size};
    off += size;
    return r;
  };
  ScratchLayout l;
  l.xq = next(z.xq);
  l.h = next(z.h);
  l.hq = next(z.h);
  l.part = next(z.part);
  l.args = next(z.args);
  l.counts = next(z.counts);
  l.cursor = next(z.counts);
  l.tiles = next(z.tiles);
  l.pairs = next(z.pairs);
  l.xh_layout = z.xh;
  l.hh_layout = z.hh;
  l.xh = coopmat_acts(next(z.xh.total()), z.xh);
  l.hh = coopmat_acts(next(z.hh.total()), z.hh);
  return l;
}

uint32_t format_code(const DeviceMatrix& m) {
  if (m.format == WeightFormat::FP4) return 0;
  if (m.format == WeightFormat::FP8) return 1;
  throw std::invalid_argument("moe: expert matrix " + m.name + " is neither FP8 nor FP4");
}

void check_expert(const DeviceMatrix* m, int64_t rows, int64_t cols, const char* what) {
  require(m != nullptr, std::string(what) + " missing");
  require(m->rows == rows && m->cols == cols,
          std::string(what) + " is " + std::to_string(m->rows) + "x" + std::to_string(m->cols) + ", expected " +
              std::to_string(rows) + "x" + std::to_string(cols));
  format_code(*m);
  require(cols % 32 == 0, std::string(what) + ": cols must be a multiple of 32");
}

// act_quant of `units_per_row` fp32 rows of `width` per step row: src -> dst.
void encode_act_quant(Context& ctx, const MoeArgs& a, vk::BufferRange src, vk::BufferRange dst, int64_t width,
                      uint32_t units_per_row, std::vector<vk::Dispatch>& out) {
  const vk::Kernel& k = ctx.kernels.get({"moe/act_quant", 3, sizeof(QuantPush), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read}, {src, vk::Access::Read}, {dst, vk::Access::Write}},
                 vk::push_words(QuantPush{uint32_t(width), units_per_row}),
                 {groups_for(uint64_t(width), 128), a.max_rows * units_per_row, 1},
                 std::nullopt,
                 "moe act_quant"});
}

// Whether expert_gemv_fp4 can stage and act-quantise an input row of `cols` (stage_quant.glsl)
// next to its reduction space (8 rows per unit); expert_gemv.comp stages its rows anyway.
bool stage_quant_fits(const Context& ctx, int64_t cols) {
  return staged_row_bytes(cols) + uint64_t(kFp4RowsPerUnit) * 1024 <= ctx.device.caps().max_compute_shared_memory;
}

// Which slots of every step row an expert GEMV dispatch covers: the routed experts (0..k-1), the
// shared expert (k), or all k+1 (expert_gemv_mixed.comp: MXFP4 routed, FP8 shared).
enum class GemvSlots { Routed, Shared, Both };

// Whether one expert_gemv_mixed dispatch can take a MoE's routed and shared experts: the released
// formats (MXFP4 routed, FP8 shared), and the staged input row next to the reduction space of 8
// rows per unit within the device's shared memory (V4-Pro's 7,168-wide row needs 37 KiB).
bool gemv_mixed_fits(const Context& ctx, const MoeArgs& a) {
  return a.w1->format == graph::WeightFormat::FP4 && a.s1->format == graph::WeightFormat::FP8 &&
         staged_row_bytes(std::max(a.dim, a.inter_dim)) + uint64_t(kFp4RowsPerUnit) * 1024 <=
             ctx.device.caps().max_compute_shared_memory;
}

// One expert GEMV dispatch over `slots` of every step row. mode 0: (wa, wb) = (w1, w3) -> h;
// mode 1: wa = w2 -> expert outputs; (sa, sb) the shared expert's matrices where slots == Both.
// quant_x: `in` holds raw rows that the kernel act-quantises (stage_quant_fits), else
// act-quantised ones.
void encode_gemv(Context& ctx, const MoeArgs& a, uint32_t mode, GemvSlots slots, const DeviceMatrix& wa,
                 const DeviceMatrix& wb, const DeviceMatrix* sa, const DeviceMatrix* sb, vk::BufferRange in,
                 bool quant_x, vk::BufferRange dst, std::vector<vk::Dispatch>& out) {
  const uint32_t fmt = format_code(wa);
  const bool shared = slots == GemvSlots::Shared, both = slots == GemvSlots::Both;
  // MXFP4 stacks take expert_gemv_fp4 (4-byte word loads, no staging, 8 rows per unit in flight).
  const bool fp4 = fmt == 0;
  const uint32_t n_slots = shared ? 1u : uint32_t(a.topk) + (both ? 1u : 0u);
  const uint32_t phases = mode == 0 ? 2u : 4u;
  // MXFP4 rows of 16-byte loads (MoeArgs::fp4_wide_gemv) hold 4x the codes in flight per row.
  const bool wide = fp4 && a.fp4_wide_gemv;
  uint32_t rpu = fp4 ? kFp4RowsPerUnit / (wide ? 2u : 1u) : rows_per_unit(wa.cols);
  // Fewer rows per unit until a decode row's dispatch has enough workgroups to fill the GPU: the
  // shared expert (one slot) at 8 rows per unit was 128 workgroups, 0.3 ms on an H100. A row's
  // summation order does not depend on rpu.
  while (rpu > 1 && uint64_t(groups_for(uint64_t(wa.rows), phases * rpu)) * n_slots < kMinGemvWorkgroups) rpu /= 2;
  // The staged row: expert_gemv.comp always stages it, expert_gemv_fp4 only to quantise it.
  const uint32_t xs_vec4 = fp4 && !both && !quant_x ? 1u : uint32_t(wa.cols / 4);
  const char* kernel = both ? "moe/expert_gemv_mixed" : fp4 ? "moe/expert_gemv_fp4" : "moe/expert_gemv";
  const vk::Kernel& k = ctx.kernels.get({kernel, both ? 12u : 8u, sizeof(GemvPush),
                                         {{0, fmt}, {1, mode}, {2, rpu}, {3, xs_vec4}, {4, quant_x ? 1u : 0u}, {5, wide ? 1u : 0u}}, 0});
  GemvPush p{};
  p.rows = uint32_t(wa.rows);
  p.cols = uint32_t(wa.cols);
  p.topk = uint32_t(a.topk);
  p.n_slots = n_slots;
  p.slot_base = shared || both ? uint32_t(a.topk) : 0u;  // Both: the shared expert's workgroups launch first
  p.data_stride16 = uint32_t(wa.data_stride() / 16);
  p.scale_stride = uint32_t(wa.scale_stride());
  p.swiglu_limit = a.swiglu_limit;
  p.in_per_row = mode == 0 ? 1u : uint32_t(a.topk + 1);
  const uint32_t rows_per_group = phases * rpu;
  // One step row: the routed slots (0..k-1) and the shared expert's (k) of h and the outputs are
  // separate ranges, bound apart so that neither dispatch waits for the other (nor the shared
  // expert, which reads no route, for the router: the step descriptor stands in for it). With more
  // rows the slots interleave and both bind the whole arrays.
  const auto slot_range = [&](vk::BufferRange whole, uint64_t row_bytes) {
    const uint64_t first = shared ? uint64_t(a.topk) : 0u, n = shared ? 1u : uint64_t(a.topk);
    return vk::BufferRange{whole.buffer, whole.offset + first * row_bytes, n * row_bytes};
  };
  // in and dst are bindings, so already at aligned offsets: the slots' offsets within them must be.
  const uint64_t align = ctx.device.caps().min_storage_buffer_offset_alignment;
  const bool apart = !both && a.max_rows == 1 && (uint64_t(a.topk) * wa.rows * 4) % align == 0 &&
                     (mode == 0 || (uint64_t(a.topk) * wa.cols * 4) % align == 0);
  const vk::BufferRange io_in = apart && mode == 1 ? slot_range(in, uint64_t(wa.cols) * 4) : in;
  const vk::BufferRange io_out = apart ? slot_range(dst, uint64_t(wa.rows) * 4) : dst;
  p.io_slot0 = apart && shared ? uint32_t(a.topk) : 0u;
  std::vector<vk::Binding> bindings{{a.step, vk::Access::Read},
                                    {shared ? a.step : a.route, vk::Access::Read},
                                    {io_in, vk::Access::Read},
                                    {wa.data, vk::Access::Read},
                                    {wa.scale, vk::Access::Read},
                                    {wb.data, vk::Access::Read},
                                    {wb.scale, vk::Access::Read},
                                    {io_out, vk::Access::Write}};
  if (both) {
    bindings.push_back({sa->data, vk::Access::Read});
    bindings.push_back({sa->scale, vk::Access::Read});
    bindings.push_back({sb->data, vk::Access::Read});
    bindings.push_back({sb->scale, vk::Access::Read});
  }
  out.push_back({&k,
                 std::move(bindings),
                 vk::push_words(p),
                 {groups_for(uint64_t(wa.rows), rows_per_group), a.max_rows * n_slots, 1},
                 std::nullopt,
                 std::string(mode == 0 ? "moe gate_up" : "moe down") + (both ? "" : shared ? " shared" : " routed")});
}

// The grouped path's sort: per-expert counts, then offsets + tile table + indirect arguments, then
// the pairs scattered by expert (shaders/moe/sort_*.comp).
// The tiles: `tile_m` pairs each, gate/up and down workgroups of `up_rows` and `down_rows` output rows.
void encode_sort(Context& ctx, const MoeArgs& a, const ScratchLayout& s, uint32_t tile_m, uint32_t up_rows,
                 uint32_t down_rows, std::vector<vk::Dispatch>& out) {
  const uint32_t experts = uint32_t(a.w1->count);
  const SortPush sp{uint32_t(a.topk), experts};
  const vk::Kernel& count = ctx.kernels.get({"moe/sort_count", 3, sizeof(SortPush), {}, 0});
  out.push_back({&count,
                 {{a.step, vk::Access::Read}, {a.route, vk::Access::Read}, {s.counts, vk::Access::Write}},
                 vk::push_words(sp),
                 {1, 1, 1},
                 std::nullopt,
                 "moe sort count"});
  const vk::Kernel& scan = ctx.kernels.get({"moe/sort_scan", 4, sizeof(ScanPush), {{0, tile_m}}, 0});
  out.push_back({&scan,
                 {{s.counts, vk::Access::Read},
                  {s.cursor, vk::Access::Write},
                  {s.tiles, vk::Access::Write},
                  {s.args, vk::Access::Write}},
                 vk::push_words(ScanPush{experts, groups_for(uint64_t(a.inter_dim), up_rows),
                                         groups_for(uint64_t(a.dim), down_rows)}),
                 {1, 1, 1},
                 std::nullopt,
                 "moe sort scan"});
  const vk::Kernel& scatter = ctx.kernels.get({"moe/sort_scatter", 4, sizeof(SortPush), {}, 0});
  out.push_back({&scatter,
                 {{a.step, vk::Access::Read},
                  {a.route, vk::Access::Read},
                  {s.cursor, vk::Access::ReadWrite},
                  {s.pairs, vk::Access::Write}},
                 vk::push_words(sp),
                 {groups_for(uint64_t(a.max_rows) * uint64_t(a.topk), 256), 1, 1},
                 std::nullopt,
                 "moe sort scatter"});
}

// The dispatch of a grouped GEMM: routed ones run indirectly with the scan's tile count (gate/up
// arguments at word 0, down at word 4), the shared expert directly over tiles of step rows (the
// route stands in for the tile table and pairs, which it does not read). `weights` and `io` are
// the bindings after the first four (step, route, tiles, pairs).
void push_grouped(const MoeArgs& a, const ScratchLayout& s, const vk::Kernel& k, uint32_t mode, bool shared,
                  std::vector<uint32_t> push, std::array<uint32_t, 3> groups, std::vector<vk::Binding> io,
                  const char* kind, std::vector<vk::Dispatch>& out) {
  std::vector<vk::Binding> b = {{a.step, vk::Access::Read},
                                {a.route, vk::Access::Read},
                                {shared ? a.route : s.tiles, vk::Access::Read},
                                {shared ? a.route : s.pairs, vk::Access::Read}};
  b.insert(b.end(), io.begin(), io.end());
  vk::Dispatch d{&k, std::move(b), std::move(push), groups, std::nullopt,
                 std::string(mode == 0 ? "moe gate_up" : "moe down") + (shared ? " shared" : " routed") + kind};
  if (!shared) d.indirect = vk::BufferRange{s.args.buffer, s.args.offset + (mode == 0 ? 0u : 16u), 12};
  out.push_back(std::move(d));
}

// One grouped GEMM (shaders/moe/grouped_gemm.comp); modes as encode_gemv's. Routed: one workgroup
// per (tile of the sorted pairs, kTileN output rows). Shared: tiles of kTileM step rows.
void encode_grouped(Context& ctx, const MoeArgs& a, const ScratchLayout& s, uint32_t mode, const DeviceMatrix& wa,
                    const DeviceMatrix& wb, bool shared, vk::BufferRange in, vk::BufferRange dst,
                    std::vector<vk::Dispatch>& out) {
  const vk::Kernel& k = ctx.kernels.get(
      {"moe/grouped_gemm", 10, sizeof(GroupedPush), {{0, format_code(wa)}, {1, mode}, {2, kTileM}}, 0});
  GroupedPush p{};
  p.rows = uint32_t(wa.rows);
  p.cols = uint32_t(wa.cols);
  p.topk = uint32_t(a.topk);
  p.shared_expert = shared ? 1u : 0u;
  p.data_stride16 = uint32_t(wa.data_stride() / 16);
  p.scale_stride = uint32_t(wa.scale_stride());
  p.swiglu_limit = a.swiglu_limit;
  p.in_per_row = mode == 0 ? 1u : uint32_t(a.topk + 1);
  push_grouped(a, s, k, mode, shared, vk::push_words(p),
               {groups_for(a.max_rows, kTileM), groups_for(uint64_t(wa.rows), kTileN), 1},
               {{in, vk::Access::Read},
                {wa.data, vk::Access::Read},
                {wa.scale, vk::Access::Read},
                {wb.data, vk::Access::Read},
                {wb.scale, vk::Access::Read},
                {dst, vk::Access::Write}},
               " grouped", out);
}

// One grouped GEMM on cooperative matrices (shaders/moe/grouped_gemm_coopmat.comp), dispatched like
// encode_grouped's; `in` holds the exact fp16 activations of its input.
void encode_grouped_coopmat(Context& ctx, const MoeArgs& a, const ScratchLayout& s, uint32_t mode,
                            const DeviceMatrix& wa, const DeviceMatrix& wb, bool shared,
                            const CoopmatActLayout& in_layout, const CoopmatActs& in, vk::BufferRange dst,
                            std::vector<vk::Dispatch>& out) {
  const vk::Kernel& k = ctx.kernels.get(coopmat_kernel(ctx.device, linear_coopmat_api(ctx.device),
                                                      "moe/grouped_gemm_coopmat", 12, sizeof(CoopPush),
                                                      {{0, format_code(wa)}, {1, mode}}));
  CoopPush p{};
  p.rows = uint32_t(wa.rows);
  p.cols = uint32_t(wa.cols);
  p.kp = uint32_t(in_layout.kp);
  p.nb = uint32_t(in_layout.blocks);
  p.topk = uint32_t(a.topk);
  p.shared_expert = shared ? 1u : 0u;
  p.data_stride8 = uint32_t(wa.data_stride() / 8);
  p.scale_stride = uint32_t(wa.scale_stride());
  p.swiglu_limit = a.swiglu_limit;
  p.in_per_row = mode == 0 ? 1u : uint32_t(a.topk + 1);
  push_grouped(a, s, k, mode, shared, vk::push_words(p),
               {groups_for(uint64_t(a.max_rows), kCoopTileM),
                groups_for(uint64_t(wa.rows), mode == 0 ? kCoopUpRows : kCoopDownRows), 1},
               {{in.act, vk::Access::Read},
                {in.info, vk::Access::Read},
                {in.exps, vk::Access::Read},
                {wa.data, vk::Access::Read},
                {wa.scale, vk::Access::Read},
                {wb.data, vk::Access::Read},
                {wb.scale, vk::Access::Read},
                {dst, vk::Access::Write}},
               " grouped coopmat", out);
}

}  // namespace

bool moe_coopmat(const Context& ctx) {
  // fp16 denormals: grouped_gemm_coopmat.comp declares DenormPreserve 16 (its e2m1 decode).
  return linear_coopmat_api(ctx.device) != CoopmatApi::None && ctx.device.caps().denorm_preserve_fp16 &&
         ctx.device.caps().max_compute_shared_memory >= kCoopSharedBytes;
}

uint64_t route_bytes(int64_t topk, uint32_t max_rows) { return std::max<uint64_t>(16, uint64_t(max_rows) * uint64_t(topk) * 8); }

uint64_t gate_counters_bytes(uint32_t max_rows) { return std::max<uint64_t>(16, uint64_t(max_rows) * 4); }

uint64_t gate_logits_bytes(int64_t n_experts, uint32_t max_rows) {
  return std::max<uint64_t>(16, uint64_t(max_rows) * uint64_t(n_experts) * 4);
}

void encode_gate(Context& ctx, const GateArgs& a, std::vector<vk::Dispatch>& out) {
  require(a.gate != nullptr && a.gate->format == WeightFormat::BF16, "gate must be a BF16 matrix");
  require(a.gate->rows == a.n_experts, "gate rows != n_experts");
  require(a.gate->cols % 8 == 0, "gate cols must be a multiple of 8 (16-byte chunks of bf16)");
  require(a.n_experts <= kMaxGateExperts, "more than 1024 experts");
  require(a.topk >= 1 && a.topk <= a.n_experts, "topk out of range");
  const bool hash = a.tid2eid.size != 0;
  require(hash || a.bias.size != 0, "scored layer without bias");
  // An unused table still needs a valid binding: the gate weights stand in (read only).
  const vk::BufferRange bias = hash ? a.gate->data : a.bias;
  const vk::BufferRange tid2eid = hash ? a.tid2eid : a.gate->data;
  const std::vector<uint32_t> push = vk::push_words(
      GatePush{uint32_t(a.gate->cols), uint32_t(a.n_experts), uint32_t(a.topk), hash ? 1u : 0u, a.route_scale});
  const vk::Binding step{a.step, vk::Access::Read}, x{a.x, vk::Access::Read}, gate{a.gate->data, vk::Access::Read};
  const vk::Binding selection[] = {{bias, vk::Access::Read}, {tid2eid, vk::Access::Read}, {a.route, vk::Access::Write}};
  if (a.logits.size == 0) {
    const vk::Kernel& k = ctx.kernels.get({"moe/gate", 6, sizeof(GatePush), {}, 0});
    out.push_back({&k, {step, x, gate, selection[0], selection[1], selection[2]}, push, {a.max_rows, 1, 1},
                   std::nullopt, "moe gate"});
    return;
  }
  require(a.logits.size >= gate_logits_bytes(a.n_experts, a.max_rows), "logits scratch smaller than gate_logits_bytes()");
  if (a.tiled) {
    const vk::Kernel& dots = ctx.kernels.get({"moe/gate_tiled", 4, sizeof(GatePush), {}, 0});
    out.push_back({&dots,
                   {step, x, gate, {a.logits, vk::Access::Write}},
                   push,
                   {uint32_t((a.n_experts + 63) / 64), (a.max_rows + 63) / 64, 1},  // gate_tiled: 64 x 64 tiles
                   std::nullopt,
                   "moe gate"});
    // Bindings 1 and 2 (x, gate) are not in gate_select: the same buffers stand in.
    const vk::Kernel& sel = ctx.kernels.get({"moe/gate_select", 7, sizeof(GatePush), {}, 0});
    out.push_back({&sel,
                   {step, x, gate, selection[0], selection[1], selection[2], {a.logits, vk::Access::Read}},
                   push,
                   {a.max_rows, 1, 1},
                   std::nullopt,
                   "moe gate select"});
    return;
  }
  require(a.counters.size >= gate_counters_bytes(a.max_rows), "counters smaller than gate_counters_bytes()");
  const vk::Kernel& k = ctx.kernels.get({"moe/gate_logits", 8, sizeof(GatePush), {}, 0});
  const uint32_t expert_groups = uint32_t((a.n_experts + 3) / 4);  // gate_logits: EPW = 4 experts per workgroup
  out.push_back({&k,
                 {step, x, gate, selection[0], selection[1], selection[2], {a.logits, vk::Access::ReadWrite},
                  {a.counters, vk::Access::ReadWrite}},
                 push,
                 {expert_groups, a.max_rows, 1},
                 std::nullopt,
                 "moe gate"});
}

vk::BufferRange moe_parts(const MoeArgs& a) { return scratch_layout(a).part; }

uint64_t moe_scratch_bytes(int64_t dim, int64_t inter_dim, int64_t topk, uint32_t max_rows, bool coopmat) {
  return scratch_sizes(dim, inter_dim, topk, max_rows, coopmat).total();
}

void encode_moe(Context& ctx, const MoeArgs& a, std::vector<vk::Dispatch>& out) {
  require(a.topk >= 1 && a.topk <= kMaxTopk, "topk must be in [1, 32]");
  require(a.dim % 32 == 0, "dim must be a multiple of 32");
  check_expert(a.w1, a.inter_dim, a.dim, "w1");
  check_expert(a.w3, a.inter_dim, a.dim, "w3");
  check_expert(a.w2, a.dim, a.inter_dim, "w2");
  check_expert(a.s1, a.inter_dim, a.dim, "shared w1");
  check_expert(a.s3, a.inter_dim, a.dim, "shared w3");
  check_expert(a.s2, a.dim, a.inter_dim, "shared w2");
  require(a.w1->format == a.w3->format && a.w1->format == a.w2->format, "routed experts mix formats");
  require(a.s1->format == a.s3->format && a.s1->format == a.s2->format, "shared expert mixes formats");
  require(a.scratch.size >= moe_scratch_bytes(a.dim, a.inter_dim, a.topk, a.max_rows, a.coopmat), "scratch too small");
  const ScratchLayout s = scratch_layout(a);
  const uint32_t k1 = uint32_t(a.topk + 1);
  const bool grouped = a.path == MoePath::Grouped || (a.path == MoePath::Auto && a.max_rows >= kGroupedGemmMinRows);
  if (grouped && a.coopmat) {
    require(a.w1->count <= kMaxSortExperts, "the grouped path takes at most 1024 routed experts");
    require(moe_coopmat(ctx), "MoeArgs::coopmat on a device without moe_coopmat()");
    // Act-quantised inputs as exact fp16 (the K loops need no per-block activation scaling).
    encode_coopmat_act_quant(ctx, a.step, a.x, s.xh_layout, s.xh, 1, uint32_t(a.dim), "moe x fp16", out);
    encode_sort(ctx, a, s, kCoopTileM, kCoopUpRows, kCoopDownRows, out);
    encode_grouped_coopmat(ctx, a, s, 0, *a.s1, *a.s3, true, s.xh_layout, s.xh, s.h, out);  // overlaps the scatter
    encode_grouped_coopmat(ctx, a, s, 0, *a.w1, *a.w3, false, s.xh_layout, s.xh, s.h, out);
    encode_coopmat_act_quant(ctx, a.step, s.h, s.hh_layout, s.hh, k1, uint32_t(k1 * a.inter_dim), "moe h fp16", out);
    encode_grouped_coopmat(ctx, a, s, 1, *a.s2, *a.s2, true, s.hh_layout, s.hh, s.part, out);
    encode_grouped_coopmat(ctx, a, s, 1, *a.w2, *a.w2, false, s.hh_layout, s.hh, s.part, out);
  } else if (grouped) {
    require(a.w1->count <= kMaxSortExperts, "the grouped path takes at most 1024 routed experts");
    encode_act_quant(ctx, a, a.x, s.xq, a.dim, 1, out);
    encode_sort(ctx, a, s, kTileM, kTileN, kTileN, out);
    encode_grouped(ctx, a, s, 0, *a.s1, *a.s3, true, s.xq, s.h, out);  // overlaps the scatter
    encode_grouped(ctx, a, s, 0, *a.w1, *a.w3, false, s.xq, s.h, out);
    encode_act_quant(ctx, a, s.h, s.hq, a.inter_dim, k1, out);
    encode_grouped(ctx, a, s, 1, *a.s2, *a.s2, true, s.hq, s.part, out);
    encode_grouped(ctx, a, s, 1, *a.w2, *a.w2, false, s.hq, s.part, out);
  } else {
    // Each input either act-quantised once by its own dispatch, or by every GEMV workgroup while
    // it stages the row (quantise_in_gemv, where the row fits the device's shared memory).
    // Apart, the routed gate/up reads x quantised by its own dispatch even so: that dispatch runs
    // beside the router, and the routed GEMV, which waits for the router, starts without staging
    // (H100, Flash top-6: 35.8 us against 47.0 quantising x itself; gpu_moe_bench ...Apart). The
    // shared expert's GEMV still quantises x itself, so that it too runs beside the router rather
    // than after that dispatch (untimed either way).
    const bool merged = a.merge_shared_gemv && gemv_mixed_fits(ctx, a);
    const bool qx = a.quantise_in_gemv && stage_quant_fits(ctx, a.dim);
    const bool qh = a.quantise_in_gemv && stage_quant_fits(ctx, a.inter_dim);
    if (!qx || !merged) encode_act_quant(ctx, a, a.x, s.xq, a.dim, 1, out);
    const vk::BufferRange x = qx ? a.x : s.xq, h = qh ? s.h : s.hq;
    if (merged) {
      encode_gemv(ctx, a, 0, GemvSlots::Both, *a.w1, *a.w3, a.s1, a.s3, x, qx, s.h, out);
      if (!qh) encode_act_quant(ctx, a, s.h, s.hq, a.inter_dim, k1, out);
      encode_gemv(ctx, a, 1, GemvSlots::Both, *a.w2, *a.w2, a.s2, a.s2, h, qh, s.part, out);
    } else {
      encode_gemv(ctx, a, 0, GemvSlots::Routed, *a.w1, *a.w3, nullptr, nullptr, s.xq, false, s.h, out);
      encode_gemv(ctx, a, 0, GemvSlots::Shared, *a.s1, *a.s3, nullptr, nullptr, x, qx, s.h, out);
      if (!qh) encode_act_quant(ctx, a, s.h, s.hq, a.inter_dim, k1, out);
      encode_gemv(ctx, a, 1, GemvSlots::Routed, *a.w2, *a.w2, nullptr, nullptr, h, qh, s.part, out);
      encode_gemv(ctx, a, 1, GemvSlots::Shared, *a.s2, *a.s2, nullptr, nullptr, h, qh, s.part, out);
    }
  }
  if (!a.combine) return;  // the consumer combines (moe_parts)
  const vk::Kernel& k = ctx.kernels.get({"moe/combine", 4, sizeof(CombinePush), {}, 0});
  out.push_back({&k,
                 {{a.step, vk::Access::Read},
                  {a.route, vk::Access::Read},
                  {s.part, vk::Access::Read},
                  {a.out, vk::Access::Write}},
                 vk::push_words(CombinePush{uint32_t(a.dim), uint32_t(a.topk)}),
                 {groups_for(uint64_t(a.dim), 256), a.max_rows, 1},
                 std::nullopt,
                 "moe combine"});
}

}  // namespace dsv4::gpu
