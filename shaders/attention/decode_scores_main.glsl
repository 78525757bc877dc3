// The scores of decode sparse attention (graph/vulkan/attention.h, keep_scores): for every key j
// of a row (attention_keys.glsl) s[row][head][j] = scale * q_head . k_j, and each 32-key tile's
// max per head (sparse_attention.comp PASS 1 reduces those to the row's global max, then reads
// the scores instead of recomputing them).
// A register-tiled product, not one reduction per score: sparse_attention.comp spreads a key's
// dims over the workgroup and reduces every (head, key) dot product across threads, which at long
// context made its scores pass shuffle- and barrier-bound (HCA at 1M: 8,320 keys x 64 heads). Here
// a workgroup takes 16 heads x 32 keys; it stages the keys (decoded once, used by 16 heads) and
// the queries in shared memory 64 dims at a time, and each thread accumulates 4 heads x 1 key
// over all dims.
// Grid: (ceil(max_keys / 32), ceil(n_heads / 16), max_rows); 128 threads.
// SCORES_PROBE cuts a phase out for bench/gpu_attention_bench's probe (results meaningless):
// 1 no products, 2 no key reads (every key KEY_NONE), 3 exit after the row checks, 4 only the
// first 64-dim chunk, 5 no score or tile-max stores.
// The includer defines SCORES_PROBE (0 in the product; bench/decode_scores_probe.comp sets a
// spec constant) and includes this after #version and the include extension.
#ifndef DSV4_DECODE_SCORES_MAIN_GLSL
#define DSV4_DECODE_SCORES_MAIN_GLSL
#define DSV4_STEP_BINDING 0
#include "step.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 1) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 2) readonly buffer KV { vec4 kv4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Ring { uint ring[]; };
layout(std430, set = 0, binding = 4) readonly buffer Compressed { uint compressed[]; };
layout(std430, set = 0, binding = 5) readonly buffer IndexSel { int index_sel[]; };
layout(std430, set = 0, binding = 6) writeonly buffer Scores { float scores[]; };      // [max_rows][n_heads][max_keys]
layout(std430, set = 0, binding = 7) writeonly buffer TileMax { float tile_max[]; };  // [max_rows][n_heads][tiles]

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
const uint KT = 32;               // keys per workgroup (graph/vulkan/attention.cpp kScoreTile)
const uint HG = 16;               // heads per workgroup
const uint HPT = 4;               // heads per thread
const uint DC4 = 16;              // dims per staged chunk, in vec4s (64 dims)
const uint KPAD = DC4 + 1;        // key row stride in vec4s: 32 lanes reading 32 keys hit distinct banks
const uint KEYS_PER_THREAD = KT * DC4 / THREADS;  // staging: 4 keys, one vec4 of each
const float NEG_INF = -1.0 / 0.0;

#ifdef SCORES_ROLLED
// The rolled probe's load_key (attention_keys.glsl) in two steps: the words of dims d0..d0+3 (the
// four fp32 values of a kv row; a nope chunk's codes word and scale word; a rope chunk's two bf16
// words), then their values.
uvec4 fetch_key(uint kind, uint at, uint d0, uint words) {
  if (kind == KEY_NONE || d0 >= pc.head_dim) return uvec4(0u);
  if (kind == KEY_KV) return floatBitsToUint(kv4[(at * pc.head_dim + d0) / 4u]);
  const bool from_ring = kind == KEY_RING;
  const uint nope = pc.head_dim - pc.rope_dim, base = at * words;
  if (d0 < nope) {
    const uint sb = kv_scale_byte(nope, pc.rope_dim) + d0 / 64u;
    return uvec4(entry_word(from_ring, base + d0 / 4u), byte_in_word(entry_word(from_ring, base + sb / 4u), sb), 0u, 0u);
  }
  const uint w = base + (nope + 2u * (d0 - nope)) / 4u;
  return uvec4(entry_word(from_ring, w), entry_word(from_ring, w + 1u), 0u, 0u);
}

vec4 decode_key(uint kind, uint d0, uvec4 raw) {
  if (kind == KEY_NONE || d0 >= pc.head_dim) return vec4(0.0);
  if (kind == KEY_KV) return uintBitsToFloat(raw);
  if (d0 < pc.head_dim - pc.rope_dim) {
    const int e = e8m0_exponent(raw.y);
    return vec4(ldexp(e4m3_to_float(byte_in_word(raw.x, 0u)), e), ldexp(e4m3_to_float(byte_in_word(raw.x, 1u)), e),
                ldexp(e4m3_to_float(byte_in_word(raw.x, 2u)), e), ldexp(e4m3_to_float(byte_in_word(raw.x, 3u)), e));
  }
  return vec4(bf16_to_float(raw.x & 0xffffu), bf16_to_float(raw.x >> 16), bf16_to_float(raw.y & 0xffffu), bf16_to_float(raw.y >> 16));
}
#endif

shared vec4 k_sh[KT * KPAD];
shared vec4 q_sh[HG * DC4];
shared float max_sh[HG * KT];

void main() {
  const uint tile = gl_WorkGroupID.x, h0 = gl_WorkGroupID.y * HG, row = gl_WorkGroupID.z;
  const uint t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint nk = n_keys(row), j0 = tile * KT;
  if (j0 >= nk) return;  // uniform; PASS 1 reads only the tiles under nk
  if (SCORES_PROBE == 3u) return;
  const uint words = kv_entry_bytes(pc.head_dim - pc.rope_dim, pc.rope_dim) / 4u;

  // Staging role: vec4 column sv of keys sk + 8i. Compute role: key kc, heads hq*4 .. hq*4+3.
  const uint sv = t % DC4, sk = t / DC4;
  const uint kc = t % KT, hq = t / KT;
  uint kind[KEYS_PER_THREAD], at[KEYS_PER_THREAD];
  for (uint i = 0u; i < KEYS_PER_THREAD; ++i) {
    const uint j = j0 + sk + (THREADS / DC4) * i;
    at[i] = 0u;
    kind[i] = j < nk && SCORES_PROBE != 2u ? describe_key(row, j, at[i]) : KEY_NONE;
  }

  // (Loading the next chunk into registers during this chunk's products measured slower: 97.5 ->
  // 99.6 us at 1M in session 12, 45.9 -> 51.9 us a layer at 4K end to end in session 22.)
  float acc[HPT];
  for (uint h = 0u; h < HPT; ++h) acc[h] = 0.0;
  const uint dims = SCORES_PROBE == 4u ? 4u * DC4 : pc.head_dim;
  for (uint c = 0u; c < dims; c += 4u * DC4) {
#ifdef SCORES_ROLLED
    // Probe: the raw words fetched in an unrolled loop, decoded in a rolled one (a quarter of the
    // decode's instructions, the same memory round trips).
    uvec4 raw[KEYS_PER_THREAD];
    for (uint i = 0u; i < KEYS_PER_THREAD; ++i) raw[i] = fetch_key(kind[i], at[i], c + 4u * sv, words);
    [[dont_unroll]] for (uint i = 0u; i < KEYS_PER_THREAD; ++i)
      k_sh[(sk + (THREADS / DC4) * i) * KPAD + sv] = decode_key(kind[i], c + 4u * sv, raw[i]);
#else
    for (uint i = 0u; i < KEYS_PER_THREAD; ++i)
      k_sh[(sk + (THREADS / DC4) * i) * KPAD + sv] = load_key(kind[i], at[i], c + 4u * sv, words);
#endif
    for (uint slot = t; slot < HG * DC4; slot += THREADS) {
      const uint h = h0 + slot / DC4, d = c + 4u * (slot % DC4);
      q_sh[slot] = h < pc.n_heads && d < pc.head_dim ? q4[((row * pc.n_heads + h) * pc.head_dim + d) / 4u] : vec4(0.0);
    }
    barrier();
    for (uint v = 0u; v < (SCORES_PROBE == 1u ? 0u : DC4); ++v) {
      const vec4 k = k_sh[kc * KPAD + v];
      for (uint h = 0u; h < HPT; ++h) acc[h] += dot(q_sh[(hq * HPT + h) * DC4 + v], k);
    }
    barrier();
  }

  const uint j = j0 + kc;
  uint unused_at;
  const bool valid = j < nk && (SCORES_PROBE == 2u || describe_key(row, j, unused_at) != KEY_NONE);
  // Probe 5 keeps the products alive with a store that never happens for finite scores.
  const bool store = SCORES_PROBE != 5u || isinf(acc[0] + acc[1] + acc[2] + acc[3]);
  for (uint hh = 0u; hh < HPT; ++hh) {
    const uint h = hq * HPT + hh;
    const float s = valid ? acc[hh] * pc.scale : NEG_INF;
    if (store && h0 + h < pc.n_heads && j < nk) scores[(row * pc.n_heads + h0 + h) * pc.max_keys + j] = s;
    max_sh[h * KT + kc] = s;
  }
  barrier();
  if (store && t < HG && h0 + t < pc.n_heads) {
    float m = NEG_INF;
    for (uint k = 0u; k < KT; ++k) m = max(m, max_sh[t * KT + k]);
    tile_max[(row * pc.n_heads + h0 + t) * gl_NumWorkGroups.x + tile] = m;
  }
}

#endif  // DSV4_DECODE_SCORES_MAIN_GLSL
