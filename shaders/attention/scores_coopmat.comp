// The kept scores of prefill sparse attention on fp16 16x16x16 cooperative matrices (NV; the build
// derives the KHR form, _khr): decode_scores.comp's contract (same push constants, scores
// [max_rows][n_heads][max_keys] and 32-key tile maxima, read by decode_pv.comp) for rows whose 64
// heads share each key: per row, scores = scale * Q K^T, a [heads x dims] x [dims x keys]
// product. Oracle graph::sparse_attention_head.
//
// Exactness: q and the keys hold bf16 values (keys' nope dims e4m3 * 2^k), exact in fp16 within
// its range. The queries arrive as fp16 from q_half.comp, each 64-dim chunk of a row's 32-head
// group times its power of two (q_shift); each 64-dim chunk of the workgroup's keys is scaled here
// by the power of two that brings its largest |value| into [2^14, 2^15). Every value down to 2^-31
// of its chunk's largest converts exactly, products are exact in fp32, and each chunk's partial
// tile is added back times the inverse powers (exact). Only the accumulation order differs from
// the reference's fp32 dot, as with decode_scores.comp's dot().
//
// Workgroup: 128 threads = 4 subgroups of 32 (the host requires subgroups of 32): 64 heads x 64
// keys of one row; subgroup s owns heads 32 (s % 2) + [0, 32) (one q_half group) x keys
// 32 (s / 2) + [0, 32) (2 x 2 tiles), its query operands loaded straight from q16. The keys' dims
// go 64 at a time, double-buffered through shared memory: load into registers, the chunk maximum
// (barrier), convert and store (barrier), multiply.
// Grid: (ceil(max_keys / 64), ceil(n_heads / 64), max_rows).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"
#include "coopmat.glsl"

layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 1) readonly buffer Q16 { uvec4 q16[]; };  // q_half.comp: [max_rows, HP, HDP] fp16
layout(std430, set = 0, binding = 2) readonly buffer KV { vec4 kv4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Ring { uint ring[]; };
layout(std430, set = 0, binding = 4) readonly buffer Compressed { uint compressed[]; };
layout(std430, set = 0, binding = 5) readonly buffer IndexSel { int index_sel[]; };
layout(std430, set = 0, binding = 6) writeonly buffer Scores { float scores[]; };      // [max_rows][n_heads][max_keys]
layout(std430, set = 0, binding = 7) writeonly buffer TileMax { float tile_max[]; };  // [max_rows][n_heads][ceil(max_keys / 32)]
layout(std430, set = 0, binding = 8) readonly buffer QShift { int q_shift[]; };       // [max_rows, HP / 32, HDP / 64]

// sparse_attention.comp's push constants (n_splits and rope_slot unused here).
layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, window;
  uint ratio, entries_per_seq, index_topk, n_splits;
  uint rope_slot;
  float scale;
  uint max_keys;
} pc;

#include "attention_keys.glsl"

const uint THREADS = 128;
const uint HG = 64, KT = 64;       // heads, keys per workgroup
const uint DC = 64;                // dims per chunk
const uint V4 = DC / 4u;           // vec4 per chunk row
const uint PER_THREAD = KT * V4 / THREADS;  // staging: 8 vec4 of keys
const uint RS = DC / 4u + 2u;      // staged row stride in uvec2 (4 fp16 each): 64 dims + 8 of padding
const uint TILE = KT * RS;         // one buffer of staged keys
const uint ES = KT / 2u + 2u;      // epilogue row stride in uvec2 (2 fp32 each): 64 keys + 4 of padding
const uint SCORE_TILE = 32u;       // decode_pv.comp's tile of the maxima
const uint MAX_CHUNKS = 8u;        // head_dim <= 512
const float NEG_INF = -1.0 / 0.0;

shared uvec2 smem[max(2u * TILE, HG * ES)];  // [buffer][key][RS] | epilogue fp32 [head][ES]
shared uint chunk_max[MAX_CHUNKS];           // per chunk: max |k| as fp32 bits

void main() {
  const uint tile = gl_WorkGroupID.x, h0 = gl_WorkGroupID.y * HG, row = gl_WorkGroupID.z;
  const uint t = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID;
  if (row >= step.n_rows) return;
  const uint nk = n_keys(row), j0 = tile * KT;
  if (j0 >= nk) return;  // uniform; decode_pv reads only the tiles under nk
  const uint words = kv_entry_bytes(pc.head_dim - pc.rope_dim, pc.rope_dim) / 4u;
  const uint n_chunks = (pc.head_dim + DC - 1u) / DC;
  const uint hp = (pc.n_heads + HG - 1u) / HG * HG, hdp = n_chunks * DC;  // q16's padded heads, dims

  if (t < MAX_CHUNKS) chunk_max[t] = 0u;
  // Staging role: vec4 column sv of keys sr + 8i.
  const uint sv = t % V4, sr = t / V4;
  uint kind[PER_THREAD], at[PER_THREAD];
  for (uint i = 0u; i < PER_THREAD; ++i) {
    const uint j = j0 + sr + (THREADS / V4) * i;
    at[i] = 0u;
    kind[i] = j < nk ? describe_key(row, j, at[i]) : KEY_NONE;
  }

  CM_ACC acc[4], tmp[4];
  for (uint i = 0u; i < 4u; ++i) acc[i] = CM_ACC(0.0);
  const uint wh = (sg % 2u) * 32u, wk = (sg / 2u) * 32u;
  const uint q_row = (row * hp + h0 + wh) * hdp;                         // in fp16 units
  const uint shift_at = (row * (hp / 32u) + (h0 + wh) / 32u) * n_chunks;  // this subgroup's group
  // The keys of chunk c + 1 load while chunk c multiplies (their registers live across it).
  vec4 rk[PER_THREAD];
  for (uint i = 0u; i < PER_THREAD; ++i) rk[i] = load_key(kind[i], at[i], 4u * sv, words);
  barrier();  // chunk_max cleared

  for (uint c = 0u; c < n_chunks; ++c) {
    float mk = 0.0;
    for (uint i = 0u; i < PER_THREAD; ++i) {
      const vec4 ak = abs(rk[i]);
      mk = max(mk, max(max(ak.x, ak.y), max(ak.z, ak.w)));
    }
    mk = subgroupMax(mk);
    if (subgroupElect()) atomicMax(chunk_max[c], floatBitsToUint(mk));
    barrier();  // the chunk's maximum
    const int sq = q_shift[shift_at + c], sk = fp16_chunk_shift(chunk_max[c]);
    const uint kbase = (c % 2u) * TILE;
    const float fk = ldexp(1.0, sk);
    for (uint i = 0u; i < PER_THREAD; ++i) smem[kbase + (sr + (THREADS / V4) * i) * RS + sv] = pack_half4(rk[i] * fk);
    barrier();  // the chunk's keys
    if (c + 1u < n_chunks)
      for (uint i = 0u; i < PER_THREAD; ++i) rk[i] = load_key(kind[i], at[i], (c + 1u) * DC + 4u * sv, words);
    for (uint i = 0u; i < 4u; ++i) tmp[i] = CM_ACC(0.0);
    for (uint kk = 0u; kk < DC / 4u; kk += 4u) {  // 16 dims per step, in uvec2 of 4
      CM_A a[2];
      CM_B b[2];
      for (uint i = 0u; i < 2u; ++i) coopMatLoadNV(a[i], q16, (q_row + 16u * i * hdp + c * DC + 4u * kk) / 8u, hdp / 8u, false);
      // Staged keys are rows [key][dim]: a column-major dims x keys operand.
      for (uint j = 0u; j < 2u; ++j) coopMatLoadNV(b[j], smem, kbase + (wk + 16u * j) * RS + kk, RS, true);
      for (uint i = 0u; i < 2u; ++i)
        for (uint j = 0u; j < 2u; ++j) tmp[2u * i + j] = coopMatMulAddNV(a[i], b[j], tmp[2u * i + j]);
    }
    // The chunk's scaling undone by two exact multiplies (each power a normal fp32).
    const float bq = ldexp(1.0, -sq), bk = ldexp(1.0, -sk);
    for (uint i = 0u; i < 4u; ++i) acc[i] = acc[i] + (tmp[i] * bq) * bk;
  }
  barrier();  // every subgroup done with the staged chunks before the epilogue reuses them

  for (uint i = 0u; i < 4u; ++i)
    coopMatStoreNV(acc[i], smem, (wh + 16u * (i / 2u)) * ES + (wk + 16u * (i % 2u)) / 2u, ES, false);
  barrier();

  // Scores: thread t writes keys (t % 64) of heads t / 64 + 2m; then each 32-key tile's max per head.
  const uint kc = t % KT, hr = t / KT;
  const uint j = j0 + kc;
  uint unused_at;
  const bool valid = j < nk && describe_key(row, j, unused_at) != KEY_NONE;
  for (uint m = 0u; m < HG / 2u; ++m) {
    const uint h = hr + 2u * m;
    const float s = valid ? uintBitsToFloat(smem[h * ES + kc / 2u][kc % 2u]) * pc.scale : NEG_INF;
    if (h0 + h < pc.n_heads && j < nk) scores[(row * pc.n_heads + h0 + h) * pc.max_keys + j] = s;
    smem[h * ES + kc / 2u][kc % 2u] = floatBitsToUint(s);
  }
  barrier();
  {
    const uint h = t % HG, half_tile = t / HG;  // 2 x 64 = 128 threads: (head, 32-key tile)
    const uint st = j0 / SCORE_TILE + half_tile;
    if (h0 + h < pc.n_heads && st * SCORE_TILE < nk) {
      float m = NEG_INF;
      for (uint k = 0u; k < SCORE_TILE; ++k) m = max(m, uintBitsToFloat(smem[h * ES + (half_tile * SCORE_TILE + k) / 2u][k % 2u]));
      tile_max[(row * pc.n_heads + h0 + h) * ((pc.max_keys + SCORE_TILE - 1u) / SCORE_TILE) + st] = m;
    }
  }
}
