// The kept scores of prefill sparse attention on fp16 16x16x16 cooperative matrices (NV; the build
// derives the KHR form, _khr): decode_scores.comp's contract (same bindings, push constants,
// scores [max_rows][n_heads][max_keys] and 32-key tile maxima, read by decode_pv.comp) for rows
// whose 64 heads share each key: per row, scores = scale * Q K^T, a [heads x dims] x [dims x keys]
// product. Oracle graph::sparse_attention_head.
//
// Exactness: q and the keys hold bf16 values (keys' nope dims e4m3 * 2^k), exact in fp16 within
// its range. Each 64-dim chunk of the workgroup's queries and of its keys is scaled by a power of
// two that brings its largest |value| into [2^14, 2^15) (the chunk's maxima meet in shared memory),
// so every value down to 2^-31 of the chunk's largest converts exactly, products are exact in
// fp32, and each chunk's partial tile is added back times the inverse powers (exact). Only the
// accumulation order differs from the reference's fp32 dot, as with decode_scores.comp's dot().
//
// Workgroup: 128 threads = 4 subgroups of 32 (the host requires subgroups of 32): 64 heads x 64
// keys of one row; subgroup s owns heads 32 (s % 2) + [0, 32) x keys 32 (s / 2) + [0, 32) (2 x 2
// tiles). Dims go 64 at a time, double-buffered through shared memory: load into registers, the
// chunk maxima (barrier), convert and store (barrier), multiply.
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

layout(std430, set = 0, binding = 1) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 2) readonly buffer KV { vec4 kv4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Ring { uint ring[]; };
layout(std430, set = 0, binding = 4) readonly buffer Compressed { uint compressed[]; };
layout(std430, set = 0, binding = 5) readonly buffer IndexSel { int index_sel[]; };
layout(std430, set = 0, binding = 6) writeonly buffer Scores { float scores[]; };      // [max_rows][n_heads][max_keys]
layout(std430, set = 0, binding = 7) writeonly buffer TileMax { float tile_max[]; };  // [max_rows][n_heads][ceil(max_keys / 32)]

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
const uint PER_THREAD = HG * V4 / THREADS;  // staging: 8 vec4 of queries and 8 of keys
const uint RS = DC / 4u + 2u;      // staged row stride in uvec2 (4 fp16 each): 64 dims + 8 of padding
const uint TILE = HG * RS;         // one operand's chunk (HG == KT)
const uint ES = KT / 2u + 2u;      // epilogue row stride in uvec2 (2 fp32 each): 64 keys + 4 of padding
const uint SCORE_TILE = 32u;       // decode_pv.comp's tile of the maxima
const uint MAX_CHUNKS = 8u;        // head_dim <= 512
const float NEG_INF = -1.0 / 0.0;

shared uvec2 smem[max(4u * TILE, HG * ES)];  // [buffer][q, k][row][RS] | epilogue fp32 [head][ES]
shared uint chunk_max[2u * MAX_CHUNKS];      // per chunk: max |q|, max |k| as fp32 bits

void main() {
  const uint tile = gl_WorkGroupID.x, h0 = gl_WorkGroupID.y * HG, row = gl_WorkGroupID.z;
  const uint t = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID;
  if (row >= step.n_rows) return;
  const uint nk = n_keys(row), j0 = tile * KT;
  if (j0 >= nk) return;  // uniform; decode_pv reads only the tiles under nk
  const uint words = kv_entry_bytes(pc.head_dim - pc.rope_dim, pc.rope_dim) / 4u;
  const uint n_chunks = (pc.head_dim + DC - 1u) / DC;

  if (t < 2u * MAX_CHUNKS) chunk_max[t] = 0u;
  // Staging role: vec4 column sv of heads / keys sr + 8i.
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
  vec4 rq[PER_THREAD], rk[PER_THREAD];
  barrier();  // chunk_max cleared

  for (uint c = 0u; c < n_chunks; ++c) {
    const uint d = c * DC + 4u * sv;
    float mq = 0.0, mk = 0.0;
    for (uint i = 0u; i < PER_THREAD; ++i) {
      const uint h = h0 + sr + (THREADS / V4) * i;
      rq[i] = h < pc.n_heads && d < pc.head_dim ? q4[((row * pc.n_heads + h) * pc.head_dim + d) / 4u] : vec4(0.0);
      rk[i] = load_key(kind[i], at[i], d, words);
      const vec4 aq = abs(rq[i]), ak = abs(rk[i]);
      mq = max(mq, max(max(aq.x, aq.y), max(aq.z, aq.w)));
      mk = max(mk, max(max(ak.x, ak.y), max(ak.z, ak.w)));
    }
    mq = subgroupMax(mq);
    mk = subgroupMax(mk);
    if (subgroupElect()) {
      atomicMax(chunk_max[2u * c], floatBitsToUint(mq));
      atomicMax(chunk_max[2u * c + 1u], floatBitsToUint(mk));
    }
    barrier();  // the chunk's maxima
    const int sq = fp16_chunk_shift(chunk_max[2u * c]), sk = fp16_chunk_shift(chunk_max[2u * c + 1u]);
    const uint qbase = (c % 2u) * 2u * TILE, kbase = qbase + TILE;
    const float fq = ldexp(1.0, sq), fk = ldexp(1.0, sk);
    for (uint i = 0u; i < PER_THREAD; ++i) {
      const uint r = sr + (THREADS / V4) * i;
      smem[qbase + r * RS + sv] = pack_half4(rq[i] * fq);
      smem[kbase + r * RS + sv] = pack_half4(rk[i] * fk);
    }
    barrier();  // the chunk's operands
    for (uint i = 0u; i < 4u; ++i) tmp[i] = CM_ACC(0.0);
    for (uint kk = 0u; kk < DC / 4u; kk += 4u) {  // 16 dims per step, in uvec2 of 4
      CM_A a[2];
      CM_B b[2];
      for (uint i = 0u; i < 2u; ++i) coopMatLoadNV(a[i], smem, qbase + (wh + 16u * i) * RS + kk, RS, false);
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
