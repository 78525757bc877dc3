// Grouped expert GEMM for prefill on cooperative matrices (NV; the build derives the KHR form, _khr):
// grouped_gemm.comp's work (same tile table, pairs, outputs and modes, the shared expert with direct
// dispatch) with fp16 16x16x16 -> fp32 tensor-core tiles instead of scalar fp32 dots. Oracle
// graph::expert_forward.
//
// Operands: A = the pairs' act-quantised input rows as exact fp16 (gemm_coopmat_quant.comp: q *
// 2^(e_b - E) per row, or q in a "wide" row whose block exponents span > 22 binades, with the
// per-(row, 128-block) exponent f of x = value * 2^f); B = the expert's weight rows decoded to fp16:
// MXFP4 each 32-code scale block as e2m1 * 2^j (formats.glsl's e2m1x8_half_bits, one fp16 multiply
// by 2^(14 + j) per two codes; exact for -23 <= j <= 1, subnormal below -13: the module preserves
// fp16 denormals), FP8 e4m3 * 2^-8 (exact). Products of exact fp16 values are exact in fp32, so the
// tensor cores' sums differ from the oracle's only in accumulation order. The MXFP4 decode yields a
// word's codes in the order 0,4,1,5,2,6,3,7; A's staged fp16 take the same order within each 8 K.
//
// Fast path (every realistic tile): no input row is wide and, for MXFP4, the weight scales of the
// workgroup's rows span <= 24 binades. MXFP4: j = scale - max scale + 1 folds each block's scale
// into the weights, the K loop accumulates with no scaling, and the output applies 2^(E + max -
// 128) per row. FP8 (one fp32 scale per 128x128 block, uniform over a subgroup's 32 rows): each
// 128-K block's partial tiles are added times scale * 2^(8 + S), S normalising the tile's largest
// scale to ~1 so subnormal scales stay exact, and the output applies 2^(E - S). Slow path (any
// other tile, exact too): MXFP4 weights decode unscaled (j = 0) and each 32-K stage's partial tile
// goes through shared memory once, scaled per element by its weight scale and 2^f (as the oracle
// scales each chunk dot), into accumulators in absolute units.
//
// Workgroup: 256 threads = 8 subgroups of 32 (the host requires subgroups of 32): a tile of up to
// BM = 128 pairs of one expert (sort_scan's TILE_M) x 128 staged weight rows (MODE 0: 64 rows of
// w1 then the same 64 of w3; MODE 1: 128 rows of w2), K staged 32 at a time (one scale block),
// through registers into two stage buffers (the MXFP4 fast path fills both at once and loads the
// next two stages during their multiplies; the scaled paths alternate them, one barrier a stage).
// Subgroup s owns pairs 64 (s % 2) + [0, 64) x staged rows 32 (s / 2) + [0, 32): 4 x 2
// accumulator tiles, so each 16 x 16 operand it loads from shared memory serves 2 or 4
// multiplies (64 pairs of 32 x 32 blocks: 1 each, and the kernel ran at the shared-memory
// bandwidth, ~55 TFLOP/s on an H100).
// That is the MXFP4 fast path, whose one set of 8 accumulator tiles is all it keeps. The scaled
// paths need two sets (the stage's or block's partial tiles, and the sums): FP8 keeps 2 x 8 tiles,
// but the slow MXFP4 path takes the tile's pairs in two passes of 64, 2 x 2 tiles a subgroup, so
// that it does not set the MXFP4 kernel's registers (H100: 196 -> 146, the routed gate/up GEMM
// 8.7 -> 8.0 ms at 4,096 rows; FP8 in two passes ran 1.8x slower). The epilogue goes through
// shared memory 64 pairs at a time.
//   MODE 0 (gate/up): h = bf16(weight * silu(min(g, L)) * clamp(u, -L, L)), g, u bf16 linears.
//   MODE 1 (down):    out = bf16(linear).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_spirv_intrinsics : require

// DenormPreserve for fp16 (moe_coopmat() requires the device to offer it): the e2m1 decode's 0.5
// is the subnormal 2^-15 before its scale multiply, and weights of small scales stay subnormal.
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4464], 4459, 16);

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint FORMAT = 0;  // 0 MXFP4 (packed e2m1 + e8m0 per 32), 1 FP8 (e4m3 + fp32 per 128x128)
layout(constant_id = 1) const uint MODE = 0;

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "coopmat.glsl"

layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) readonly buffer Tiles { uvec4 tiles[]; };
layout(std430, binding = 3) readonly buffer Pairs { uint pairs[]; };
layout(std430, binding = 4) readonly buffer A4 { uvec4 a4[]; };           // fp16 [V, KP]
layout(std430, binding = 5) readonly buffer RowInfo { ivec2 row_info[]; };  // (E, wide) [V]
layout(std430, binding = 6) readonly buffer BlockExp { int block_exp[]; };  // [V, nb]
layout(std430, binding = 7) readonly buffer WaData { uvec2 wa[]; };
layout(std430, binding = 8) readonly buffer WaScale { uint wa_scale[]; };  // FP8: fp32 bits
layout(std430, binding = 9) readonly buffer WbData { uvec2 wb[]; };
layout(std430, binding = 10) readonly buffer WbScale { uint wb_scale[]; };
layout(std430, binding = 11) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform Params {
  uint rows, cols;     // of one matrix [rows, cols]; cols % 32 == 0
  uint KP;             // fp16 per A row (cols rounded up to 32)
  uint nb;             // 128-blocks per A row
  uint topk;           // route layout: per row k ids then k weights
  uint shared_expert;  // 1: expert 0 of the stack, slot topk, no routing weight, direct dispatch
  uint data_stride8;   // one matrix's bytes / 8
  uint scale_stride;   // one matrix's scale bytes
  float swiglu_limit;
  uint in_per_row;     // A rows per step row (1: x; k+1: h)
} p;

const uint BM = 128u, BN = 128u, BK = 32u;
const uint WM = 64u, WN = 32u;            // a subgroup's block of pairs x staged rows
const uint FM = WM / 16u, FN = WN / 16u;  // its accumulator tiles: FM x FN
const uint NF = FM * FN;
const uint SP = FORMAT == 1u ? 1u : 2u;   // the scaled path's passes over the tile's pairs
const uint SNT = NF / SP;                 // and its tiles a set
const uint EPI_M = WM;                    // pairs per epilogue half: one row of subgroups' blocks
const uint ST = BK / 8u + 1u;      // staged row stride in uvec4 (8 fp16 each, + 8 of padding)
const uint A_TILE = BM * ST, B_TILE = BN * ST;
const uint B0 = 2u * A_TILE;       // Bs starts after both A buffers
const uint CS = BN / 4u + 1u;      // epilogue row stride in uvec4 (128 fp32 + 4 of padding)
const uint SMEM = max(B0 + 2u * B_TILE, EPI_M * CS);
shared uvec4 smem[SMEM];
shared uint in_row[BM], out_row[BM];
shared float pair_weight[BM];
shared int out_exp[BM];
shared uint smax, smin, any_wide;  // FP8: smax is the largest scale exponent field

// Staged weight row `n` (of BN) -> (operand B?, matrix row).
bool staged_is_b(uint n) { return MODE == 0u && n >= BN / 2u; }
uint staged_row(uint n0, uint n) { return min(n0 + (MODE == 0u ? n % (BN / 2u) : n), p.rows - 1u); }

uint scale_byte(bool b, uint expert, uint row, uint blk) {
  const uint si = expert * p.scale_stride + row * (p.cols / 32u) + blk;
  return byte_in_word(b ? wb_scale[si >> 2] : wa_scale[si >> 2], si);
}

// FP8: the fp32 scale of (row, 128-column block kb), as bits.
uint scale_bits(bool b, uint expert, uint row, uint kb) {
  const uint si = expert * (p.scale_stride / 4u) + (row / 128u) * ((p.cols + 127u) / 128u) + kb;
  return b ? wb_scale[si] : wa_scale[si];
}

// A thread's half of a staged row at stage st: 16 codes (MXFP4: .xy; FP8: all four words).
uvec4 load_codes(bool b, uint off, uint st) {
  if (FORMAT == 0u) return uvec4(b ? wb[off + 2u * st] : wa[off + 2u * st], 0u, 0u);
  return b ? uvec4(wb[off + 4u * st], wb[off + 4u * st + 1u]) : uvec4(wa[off + 4u * st], wa[off + 4u * st + 1u]);
}

// Four fp16 pairs times the fp16 f.
uvec4 times_half(uvec4 h, float16_t f) {
  const f16vec2 f2 = f16vec2(f);
  return uvec4(packFloat2x16(unpackFloat2x16(h.x) * f2), packFloat2x16(unpackFloat2x16(h.y) * f2),
               packFloat2x16(unpackFloat2x16(h.z) * f2), packFloat2x16(unpackFloat2x16(h.w) * f2));
}

// 16 codes -> 16 fp16 as two uvec4 (MXFP4: 8 bytes, low nibble first, each word's codes in the
// order 0,4,1,5,2,6,3,7, times f; FP8: 16 bytes in order).
void decode16(uvec4 w, float16_t f, out uvec4 lo, out uvec4 hi) {
  if (FORMAT == 1u) {
    lo = uvec4(e4m3x4_half_bits(w.x), e4m3x4_half_bits(w.y));
    hi = uvec4(e4m3x4_half_bits(w.z), e4m3x4_half_bits(w.w));
    return;
  }
  lo = times_half(e2m1x8_half_bits(w.x), f);
  hi = times_half(e2m1x8_half_bits(w.y), f);
}

// The MXFP4 decode's factor 2^(14 + j) for a block of scale byte s: j = s - smax + 1 on the fast
// path (2^(15 + s - smax), a normal fp16 for a spread <= 24), 0 on the slow.
float16_t weight_factor(uint s, bool fast, int smax_i) {
  return unpackFloat2x16(uint(fast ? 30 + int(s) - smax_i : 29) << 10).x;
}

// A's 8 fp16 of a uvec4 in the MXFP4 decode's order: 0,4,1,5,2,6,3,7.
uvec4 interleave_halves(uvec4 a) {
  return uvec4((a.x & 0xffffu) | (a.z << 16), (a.x >> 16) | (a.z & 0xffff0000u), (a.y & 0xffffu) | (a.w << 16),
               (a.y >> 16) | (a.w & 0xffff0000u));
}
uvec4 staged_a(uvec4 a) { return FORMAT == 0u ? interleave_halves(a) : a; }

// v * s * 2^e for an fp32 scale s given by its bits (exact while the result is a normal fp32, s
// subnormal included: linear_common.glsl's scale_by).
float times_scale_pow2(float v, uint sbits, int e) {
  const uint ex = (sbits >> 23) & 0xffu;
  if (ex == 0u) return ldexp_wide(v * float(sbits & 0x7fffffu) * ((sbits & 0x80000000u) != 0u ? -1.0 : 1.0), e - 149);
  return ldexp_wide(v * uintBitsToFloat((sbits & 0x807fffffu) | 0x3f800000u), e + int(ex) - 127);
}

// The loader's roles and its registers for the next stages (private globals: the stage functions
// below share them with main). Two register sets: the MXFP4 fast path loads two stages at a time.
uint la, lc, a_row, a_row2, lb, lh, w_row, w_off, g_expert;
bool lb_b;
uvec4 ra[2], ra2[2], rw[2];
uint rs[2] = uint[2](0u, 0u);  // MXFP4 only

// Stage st's global loads into register set `set`.
void load_stage(uint st, uint set) {
  ra[set] = a4[a_row + st * (BK / 8u) + lc];
  ra2[set] = a4[a_row2 + st * (BK / 8u) + lc];
  rw[set] = load_codes(lb_b, w_off, st);
  if (FORMAT == 0u) rs[set] = scale_byte(lb_b, g_expert, w_row, st);
}

// Register set `set` decoded into stage buffer buf.
void store_stage(uint buf, uint set, bool fast, int smax_i) {
  uvec4 lo, hi;
  decode16(rw[set], weight_factor(rs[set], fast, smax_i), lo, hi);
  const uint a0 = buf * A_TILE, b0 = B0 + buf * B_TILE;
  smem[a0 + la * ST + lc] = staged_a(ra[set]);
  smem[a0 + (la + BM / 2u) * ST + lc] = staged_a(ra2[set]);
  smem[b0 + lb * ST + 2u * lh] = lo;
  smem[b0 + lb * ST + 2u * lh + 1u] = hi;
}

// One 32-K stage's multiplies, shared by the fast and the scaled paths: the subgroup's tiles
// ACC[FN * i + j] += A tile (pairs WM_ + 16 i, i < NI, from A_CUR) x B tile (staged rows WN_ + 16 j,
// from B_CUR). Staged rows are weight rows [n][k]: a column-major K x N operand. A macro, not a
// function: GLSL copies array arguments in and out, and these are register-held tiles.
#define MULTIPLY_STAGE(ACC, NI, A_CUR, B_CUR, WM_, WN_)                                                   \
  [[unroll]] for (uint kk = 0u; kk < BK / 8u; kk += 2u) {                                               \
    CM_A a[FM]; /* [0, NI) used */                                                                      \
    CM_B b[FN];                                                                                         \
    [[unroll]] for (uint i = 0u; i < (NI); ++i)                                                         \
      coopMatLoadNV(a[i], smem, (A_CUR) + ((WM_) + 16u * i) * ST + kk, ST, false);                      \
    [[unroll]] for (uint j = 0u; j < FN; ++j)                                                           \
      coopMatLoadNV(b[j], smem, (B_CUR) + ((WN_) + 16u * j) * ST + kk, ST, true);                       \
    [[unroll]] for (uint i = 0u; i < (NI); ++i) {                                                       \
      [[unroll]] for (uint j = 0u; j < FN; ++j) ACC[FN * i + j] = coopMatMulAddNV(a[i], b[j], ACC[FN * i + j]); \
    }                                                                                                   \
  }

// Pairs half_m + [0, EPI_M) out of shared memory (fp32 [EPI_M][CS * 4], as the paths store their
// accumulators) into the output rows.
void write_out_half(uint half_m, uint count, uint n0, bool fast, int smax_i, int S, bool shared_expert) {
  const uint n_out = MODE == 0u ? BN / 2u : BN;
  for (uint idx = gl_LocalInvocationID.x; idx < EPI_M * n_out; idx += 256u) {
    const uint mi = idx / n_out, n = idx % n_out, m = half_m + mi;
    if (m >= count || n0 + n >= p.rows) continue;
    // Fast MXFP4: x = a * 2^E, w = b * 2^(smax - 128); fast FP8: acc in units of 2^(E - S); slow: absolute.
    const int ex = !fast ? 0 : FORMAT == 0u ? out_exp[m] + smax_i - 128 : out_exp[m] - S;
    const float first_v = ldexp_wide(uintBitsToFloat(smem[mi * CS + n / 4u][n % 4u]), ex);
    float v;
    if (MODE == 0u) {
      const uint nu = n + BN / 2u;
      float g = round_bf16(first_v);
      float u = round_bf16(ldexp_wide(uintBitsToFloat(smem[mi * CS + nu / 4u][nu % 4u]), ex));
      if (p.swiglu_limit > 0.0) {
        u = clamp(u, -p.swiglu_limit, p.swiglu_limit);
        g = min(g, p.swiglu_limit);
      }
      v = (g / (1.0 + exp(-g))) * u;  // grouped_gemm.comp's order
      if (!shared_expert) v = pair_weight[m] * v;
    } else {
      v = first_v;
    }
    outv[out_row[m] * p.rows + n0 + n] = round_bf16(v);
  }
}

void main() {
  const uint t = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const bool shared_expert = p.shared_expert != 0u;
  const uint k1 = p.topk + 1u;
  uint expert = 0u, first = 0u, count = 0u;
  if (shared_expert) {  // rows [x * BM, x * BM + BM) of the step, slot topk
    first = gl_WorkGroupID.x * BM;
    if (first >= step.n_rows) return;  // uniform, before any barrier
    count = min(BM, step.n_rows - first);
  } else {
    const uvec4 tile = tiles[gl_WorkGroupID.x];
    expert = tile.x;
    first = tile.y;
    count = tile.z;
  }
  const uint n0 = gl_WorkGroupID.y * (MODE == 0u ? BN / 2u : BN);

  if (t == 0u) {
    smax = 0u;
    smin = 255u;
    any_wide = 0u;
  }
  barrier();
  if (t < BM) {
    const uint i = min(t, count - 1u);  // rows past count repeat the last pair
    uint row, slot;
    float weight = 1.0;
    if (shared_expert) {
      row = first + i;
      slot = p.topk;
    } else {
      const uint pr = pairs[first + i];
      row = pr / p.topk;
      slot = pr % p.topk;
      weight = uintBitsToFloat(route[row * 2u * p.topk + p.topk + slot]);
    }
    const uint v = p.in_per_row == 1u ? row : row * k1 + slot;
    in_row[t] = v;
    out_row[t] = row * k1 + slot;
    pair_weight[t] = weight;
    const ivec2 info = row_info[v];
    out_exp[t] = info.x;
    if (t < count && info.y != 0) atomicOr(any_wide, 1u);
  }
  // The tile's weight-scale range: MXFP4 every staged row's blocks, FP8 the (<= 2) row blocks'.
  {
    uint lmax = 0u, lmin = 255u;
    if (FORMAT == 0u) {
      const uint nbk = p.cols / 32u;
      for (uint i = t; i < BN * nbk; i += 256u) {
        const uint n = i / nbk;
        const uint s = scale_byte(staged_is_b(n), expert, staged_row(n0, n), i % nbk);
        lmax = max(lmax, s);
        lmin = min(lmin, s);
      }
    } else {
      const uint nbk = (p.cols + 127u) / 128u;
      for (uint i = t; i < 2u * nbk; i += 256u) {
        const uint n = (i / nbk) * (BN / 2u);  // a row of each half (one 128-row block each)
        lmax = max(lmax, (scale_bits(staged_is_b(n), expert, staged_row(n0, n), i % nbk) >> 23) & 0xffu);
      }
    }
    atomicMax(smax, lmax);
    atomicMin(smin, lmin);
  }
  barrier();
  const bool fast = any_wide == 0u && (FORMAT == 1u || smax - smin <= 24u);
  const int smax_i = int(smax);
  const int S = 127 - smax_i;  // FP8: 2^S brings the tile's largest scale to [1, 2)
  // Loader roles. A: pair rows la and la + BM / 2, uvec4 lc of the stage's 4. B: staged row lb, 16
  // codes at half lh.
  la = t / 4u;
  lc = t % 4u;
  a_row = in_row[la] * (p.KP / 8u);
  a_row2 = in_row[la + BM / 2u] * (p.KP / 8u);
  lb = t / 2u;
  lh = t % 2u;
  lb_b = staged_is_b(lb);
  w_row = staged_row(n0, lb);
  const uint row_u2 = p.cols / (FORMAT == 0u ? 16u : 8u);  // uvec2 per weight row
  w_off = expert * p.data_stride8 + w_row * row_u2 + lh * (FORMAT == 0u ? 1u : 2u);
  g_expert = expert;
  const uint wn = (sg / 2u) * WN;
  const uint nst = p.cols / BK;

  if (FORMAT == 0u && fast) {
    // MXFP4 fast path: the scales are folded into the weights, so one pass accumulates each
    // subgroup's 64 x 32 block with no per-stage work. Both stage buffers are filled at once and
    // the next two stages' loads are in flight during their 32 multiplies a subgroup: a stage's
    // time was one load latency plus its multiplies (they hardly overlapped, session 18), so two
    // stages a round halve the latencies paid.
    const uint wm = (sg % 2u) * WM;
    CM_ACC acc[NF];
    [[unroll]] for (uint i = 0u; i < NF; ++i) acc[i] = CM_ACC(0.0);
    load_stage(0u, 0u);
    if (nst > 1u) load_stage(1u, 1u);
    for (uint st = 0u; st < nst; st += 2u) {
      const bool second = st + 1u < nst;
      barrier();  // the previous round's multiplies have read both buffers
      store_stage(0u, 0u, fast, smax_i);
      if (second) store_stage(1u, 1u, fast, smax_i);
      barrier();
      if (st + 2u < nst) load_stage(st + 2u, 0u);
      if (st + 3u < nst) load_stage(st + 3u, 1u);
      [[unroll]] for (uint buf = 0u; buf < 2u; ++buf) {
        if (buf == 1u && !second) continue;  // uniform
        const uint a_cur = buf * A_TILE, b_cur = B0 + buf * B_TILE;
        MULTIPLY_STAGE(acc, FM, a_cur, b_cur, wm, wn);
      }
    }
    // Epilogue in two halves of 64 pairs (the stage buffers are done): the subgroups owning the
    // half store, then everyone writes it out.
    for (uint half_m = 0u; half_m < BM; half_m += EPI_M) {
      barrier();  // the stage buffers, or the previous half, are read
      if (wm == half_m) {
        [[unroll]] for (uint i = 0u; i < NF; ++i)
          coopMatStoreNV(acc[i], smem, (16u * (i / FN)) * CS + (wn + 16u * (i % FN)) / 4u, CS, false);
      }
      barrier();
      write_out_half(half_m, count, n0, fast, smax_i, S, shared_expert);
    }
    return;
  }

  // Scaled path (FP8, and MXFP4 tiles off the fast path): partial tiles scaled into accumulators,
  // two sets of tiles. FP8 takes the tile in one pass (SP = 1), as the fast path does. MXFP4 takes
  // its pairs in two passes of 64 (SP = 2, the weights staged twice), subgroup s owning pairs
  // pass_m + 32 (s % 2) + [0, 32) x staged rows 32 (s / 2) + [0, 32): 2 x 2 tiles in each set, so
  // that this rare path does not raise the fast path's register count.
  for (uint pass_m = 0u; pass_m < BM; pass_m += BM / SP) {
    const uint wm = pass_m + (sg % 2u) * (WM / SP);
    CM_ACC acc[NF], tmp[NF];  // [0, SNT) used
    [[unroll]] for (uint i = 0u; i < SNT; ++i) {
      acc[i] = CM_ACC(0.0);
      tmp[i] = CM_ACC(0.0);
    }
    barrier();  // the previous pass's write-out has read the stage buffers
    load_stage(0u, 0u);
    store_stage(0u, 0u, fast, smax_i);
    barrier();
    for (uint st = 0u; st < nst; ++st) {
      const uint cur = st & 1u;
      const uint a_cur = cur * A_TILE, b_cur = B0 + cur * B_TILE;
      const bool more = st + 1u < nst;
      if (more) load_stage(st + 1u, 0u);  // in flight during this stage's multiplies
      MULTIPLY_STAGE(tmp, FM / SP, a_cur, b_cur, wm, wn);
      if (more) store_stage(1u - cur, 0u, fast, smax_i);
      barrier();
      if (!fast) {  // this stage's partial tiles, scaled per element, through this subgroup's 1 KiB of b_cur
        const uint base = b_cur + sg * 64u;
        const uint kb = st / 4u;
        [[unroll]] for (uint i = 0u; i < SNT; ++i) {
          coopMatStoreNV(tmp[i], smem, base, 4u, false);
          subgroupMemoryBarrierShared();
          subgroupBarrier();
          for (uint e = lane; e < 256u; e += 32u) {
            const uint m = wm + 16u * (i / FN) + e / 16u, n = wn + 16u * (i % FN) + e % 16u;
            const int f = block_exp[in_row[m] * p.nb + kb];
            const float x = uintBitsToFloat(smem[base + e / 4u][e % 4u]);
            float y;
            if (FORMAT == 0u) {
              y = ldexp_wide(x, int(scale_byte(staged_is_b(n), expert, staged_row(n0, n), st)) - 127 + f);
            } else {
              y = times_scale_pow2(x, scale_bits(staged_is_b(n), expert, staged_row(n0, n), kb), f + 8);
            }
            smem[base + e / 4u][e % 4u] = floatBitsToUint(y);
          }
          subgroupMemoryBarrierShared();
          subgroupBarrier();
          coopMatLoadNV(tmp[i], smem, base, 4u, false);
          acc[i] = acc[i] + tmp[i];
          tmp[i] = CM_ACC(0.0);
          subgroupBarrier();
        }
        barrier();  // b_cur is next written in the next stage
      } else if (FORMAT == 1u && ((st + 1u) % 4u == 0u || !more)) {  // an FP8 128-K block done
        const float ws = times_scale_pow2(1.0, scale_bits(staged_is_b(wn), expert, staged_row(n0, wn), st / 4u), 8 + S);
        [[unroll]] for (uint i = 0u; i < SNT; ++i) {
          acc[i] = acc[i] + tmp[i] * ws;
          tmp[i] = CM_ACC(0.0);
        }
      }
    }
    for (uint half_m = pass_m; half_m < pass_m + BM / SP; half_m += EPI_M) {
      barrier();  // the stage buffers, or the previous half, are read
      if (wm >= half_m && wm < half_m + EPI_M) {
        [[unroll]] for (uint i = 0u; i < SNT; ++i)
          coopMatStoreNV(acc[i], smem, (wm - half_m + 16u * (i / FN)) * CS + (wn + 16u * (i % FN)) / 4u, CS, false);
      }
      barrier();
      write_out_half(half_m, count, n0, fast, smax_i, S, shared_expert);
    }
  }
}
