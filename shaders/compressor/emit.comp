#version 450
// The KV Compressor's emissions (model-spec §3.5.4; oracle graph/compressor.cpp compressor_push,
// finish_kv_entry, finish_index_entry). One workgroup per row that closes a window
// ((pos + 1) % ratio == 0), parallel over channels, all windows of a prefill chunk at once:
//   per-channel softmax pooling over the window's slots -> bf16 -> RMSNorm -> RoPE (window-start
//   table) -> MODE 0 (main): FP8 round-trip of the nope dims (block 64), native KV entry;
//   MODE 1 (index): Hadamard -> FP4 round-trip (block 32), native index-key entry.
// A slot's (kv, score + ape) comes from this step's inputs when its position is in the chunk, else
// from the state, which compressor/store.comp fills AFTER this kernel with the rows a later step
// can still need. State per sequence slot: [2 (kv, score)][coff * ratio][coff * d] fp32, position
// q at row (coff == 2 ? ((q / ratio) & 1) * ratio : 0) + q % ratio (a ring of windows). Window 0's
// "previous window" (overlap, ratio 4) is empty by position: no reset is ever needed.
#extension GL_GOOGLE_include_directive : require

#define DSV4_STEP_BINDING 0
#include "step.glsl"
#define DSV4_ROPE_BINDING 1
#include "rope.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"

const uint WG = 256u;
const uint MAX_D = 1024u;
layout(local_size_x = 256) in;

layout(std430, binding = 2) readonly buffer KvIn { float kv_in[]; };
layout(std430, binding = 3) readonly buffer ScoreIn { float score_in[]; };
layout(std430, binding = 4) readonly buffer Ape { float ape[]; };
layout(std430, binding = 5) readonly buffer Norm { uint norm_w[]; };  // bf16 [d], packed
layout(std430, binding = 6) buffer State { float state[]; };  // written only with STORE
layout(std430, binding = 7) writeonly buffer Cache { uint cache_words[]; };

layout(push_constant) uniform Params {
  uint d;            // entry width (<= MAX_D; a power of two in index mode, for the Hadamard)
  uint rope_dim;     // rope dims at the end of the entry
  uint ratio;
  uint coff;         // 2 for ratio 4 (overlap), else 1
  uint rope_slot;    // RopeSlots::window_start(ratio)
  uint max_entries;  // entries per sequence slot in the cache
  float eps;
  float hadamard_scale;  // float(1 / sqrt(d)) (index mode)
  uint mode;             // 0 main KV entry, 1 index key
  uint in_stride;        // floats between the rows of kv_in / score_in
} p;

// Decode (one row per sequence): every row also stores its own state slot here, so no store.comp
// dispatch follows. The slot holds the position coff * ratio back, which no emission reads.
layout(constant_id = 0) const bool STORE = false;
#include "state_store.glsl"

shared float x[MAX_D];
shared float partial[MAX_D / 8u];
shared int block_exp[MAX_D / 32u];

uint state_index(uint seq, uint which, uint srow, uint ch) {
  const uint width = p.coff * p.d, rows = p.coff * p.ratio;
  return ((seq * 2u + which) * rows + srow) * width + ch;
}

// (kv, score + ape) of channel c at position q for the window closed by row r.
vec2 slot_value(uint seq, uint r, uint q, uint c) {
  const uint width = p.coff * p.d;
  const uint chunk_start = uint(step_chunk_start(r));
  if (q >= chunk_start) {
    const uint rq = uint(step.rows[r].first_row) + (q - chunk_start);
    precise float g = score_in[rq * p.in_stride + c] + ape[(q % p.ratio) * width + c];
    return vec2(kv_in[rq * p.in_stride + c], g);
  }
  const uint srow = (p.coff == 2u ? ((q / p.ratio) & 1u) * p.ratio : 0u) + q % p.ratio;
  return vec2(state[state_index(seq, 0u, srow, c)], state[state_index(seq, 1u, srow, c)]);
}

// Softmax pooling of channel ch over the window's slots, in the reference's slot order
// (previous window first). Window 0 has no previous window: its slots weigh exactly 0 there
// (as the reference's -inf scores do).
float pool_channel(uint seq, uint r, uint pos, uint ch) {
  const uint win = pos / p.ratio;
  const bool overlap = p.coff == 2u;
  const uint slots = p.coff * p.ratio;
  const uint first = (overlap && win == 0u) ? p.ratio : 0u;
  // Slot j: previous window (overlap, j < ratio, channels [0, d)) or current (channels [d, 2d)).
  float m = uintBitsToFloat(0xff800000u);
  for (uint j = first; j < slots; ++j) {
    const bool prev = overlap && j < p.ratio;
    const uint q = prev ? (win - 1u) * p.ratio + j : win * p.ratio + (j - (overlap ? p.ratio : 0u));
    m = max(m, slot_value(seq, r, q, prev || !overlap ? ch : ch + p.d).y);
  }
  precise float sum = 0.0;
  for (uint j = first; j < slots; ++j) {
    const bool prev = overlap && j < p.ratio;
    const uint q = prev ? (win - 1u) * p.ratio + j : win * p.ratio + (j - (overlap ? p.ratio : 0u));
    sum += exp(slot_value(seq, r, q, prev || !overlap ? ch : ch + p.d).y - m);
  }
  precise float acc = 0.0;
  for (uint j = first; j < slots; ++j) {
    const bool prev = overlap && j < p.ratio;
    const uint q = prev ? (win - 1u) * p.ratio + j : win * p.ratio + (j - (overlap ? p.ratio : 0u));
    const vec2 v = slot_value(seq, r, q, prev || !overlap ? ch : ch + p.d);
    precise float wgt = exp(v.y - m) / sum;
    acc += v.x * wgt;
  }
  return acc;
}

// graph::rms_norm on x[0, d): the mean of squares summed as graph::pairwise_sum does (halving,
// the smaller half first, down to leaves of <= 8 terms summed in order), bf16 output. The tree is
// padded to 2^depth slots (depth: halvings until the larger half has <= 8 terms); a leaf reached
// above that depth sits in its first descendant slot and the others hold 0 (x + 0 == x exactly),
// so one complete binary tree over the slots gives the recursion's sum for any d, bit for bit.
float leaf_square_sum(uint depth, uint j) {
  uint begin = 0u, size = p.d;
  for (uint level = 0u; level < depth; ++level) {
    const uint bit = (j >> (depth - 1u - level)) & 1u;
    if (size <= 8u) {
      if (bit != 0u) return 0.0;
      continue;
    }
    const uint half_n = size / 2u;
    begin += bit != 0u ? half_n : 0u;
    size = bit != 0u ? size - half_n : half_n;
  }
  precise float s = 0.0;
  for (uint i = 0u; i < size; ++i) {
    precise float sq = x[begin + i] * x[begin + i];
    s += sq;
  }
  return s;
}

void rms_norm_x() {
  const uint t = gl_LocalInvocationID.x;
  uint depth = 0u;
  for (uint size = p.d; size > 8u; size -= size / 2u) ++depth;  // d <= 1024: 2^depth <= 128 slots
  const uint leaves = 1u << depth;
  for (uint l = t; l < leaves; l += WG) partial[l] = leaf_square_sum(depth, l);
  barrier();
  for (uint n = leaves; n > 1u; n /= 2u) {  // leaves <= MAX_D / 8 <= WG: one node per thread
    precise float s = 0.0;
    if (t < n / 2u) s = partial[2u * t] + partial[2u * t + 1u];
    barrier();
    if (t < n / 2u) partial[t] = s;
    barrier();
  }
  precise float mean = partial[0] * (1.0 / float(p.d));
  precise float r = 1.0 / sqrt(mean + p.eps);
  barrier();
  for (uint i = t; i < p.d; i += WG) {
    const float w = bf16_to_float(half_in_word(norm_w[i / 2u], i));
    precise float v = w * (x[i] * r);
    x[i] = round_bf16(v);
  }
  barrier();
}

void rope_x(uint r) {
  const uint base = p.d - p.rope_dim;
  for (uint i = gl_LocalInvocationID.x; i < p.rope_dim / 2u; i += WG) {
    const vec2 v = rope_rotate(vec2(x[base + 2u * i], x[base + 2u * i + 1u]), rope_cs(r, p.rope_slot, i), false);
    x[base + 2u * i] = round_bf16(v.x);
    x[base + 2u * i + 1u] = round_bf16(v.y);
  }
  barrier();
}

// graph::hadamard_rotate: fp32 butterflies (exact per stage, so order-free), then bf16(v * scale).
void hadamard_x() {
  for (uint h = 1u; h < p.d; h *= 2u) {
    for (uint i = gl_LocalInvocationID.x; i < p.d / 2u; i += WG) {
      const uint j = (i / h) * 2u * h + (i % h);
      const float a = x[j], b = x[j + h];
      precise float s = a + b;
      precise float dd = a - b;
      x[j] = s;
      x[j + h] = dd;
    }
    barrier();
  }
  for (uint i = gl_LocalInvocationID.x; i < p.d; i += WG) {
    precise float v = x[i] * p.hadamard_scale;
    x[i] = round_bf16(v);
  }
  barrier();
}

// Block exponents of x[0, n) in blocks of `block` (FP8 when fp8, else FP4).
void block_exponents(uint n, uint block, bool fp8) {
  for (uint b = gl_LocalInvocationID.x; b * block < n; b += WG) {
    float amax = 0.0;
    for (uint i = b * block; i < min(n, b * block + block); ++i) amax = max(amax, abs(x[i]));
    block_exp[b] = fp8 ? fp8_scale_exponent(amax) : fp4_scale_exponent(amax);
  }
  barrier();
}

uint kv_entry_byte(uint b) {
  const uint nope = p.d - p.rope_dim;
  if (b < nope) return e4m3_code(e4m3_round(ldexp(x[b], -block_exp[b / 64u])));
  if (b < kv_scale_byte(nope, p.rope_dim)) {
    const uint bf = float_to_bf16(x[nope + (b - nope) / 2u]);
    return ((b - nope) & 1u) != 0u ? bf >> 8 : bf & 0xffu;
  }
  if (b < kv_scale_byte(nope, p.rope_dim) + (nope + 63u) / 64u) return e8m0_code(block_exp[b - kv_scale_byte(nope, p.rope_dim)]);
  return 0u;
}

uint fp4_nibble(uint i) {
  const int e = block_exp[i / 32u];
  return e2m1_code(e2m1_round(clamp(ldexp(x[i], -e), -6.0, 6.0)));
}

uint index_entry_byte(uint b) {
  if (b < p.d / 2u) return fp4_nibble(2u * b) | (fp4_nibble(2u * b + 1u) << 4);
  if (b < p.d / 2u + (p.d + 31u) / 32u) return e8m0_code(block_exp[b - p.d / 2u]);
  return 0u;
}

void write_entry(uint seq, uint entry) {
  const uint bytes = p.mode == 0u ? kv_entry_bytes(p.d - p.rope_dim, p.rope_dim) : index_entry_bytes(p.d);
  const uint words = bytes / 4u;
  const uint base = (seq * p.max_entries + entry) * words;
  for (uint w = gl_LocalInvocationID.x; w < words; w += WG) {
    uint word = 0u;
    for (uint k = 0u; k < 4u; ++k) {
      const uint b = w * 4u + k;
      word |= (p.mode == 0u ? kv_entry_byte(b) : index_entry_byte(b)) << (8u * k);
    }
    cache_words[base + w] = word;
  }
}

void emit(uint seq, uint r, uint pos) {
  for (uint ch = gl_LocalInvocationID.x; ch < p.d; ch += WG) x[ch] = round_bf16(pool_channel(seq, r, pos, ch));
  barrier();
  rms_norm_x();
  rope_x(r);
  if (p.mode == 0u) {
    block_exponents(p.d - p.rope_dim, 64u, true);
  } else {
    hadamard_x();
    block_exponents(p.d, 32u, false);
  }
  const uint entry = pos / p.ratio;
  if (entry < p.max_entries) write_entry(seq, entry);
}

void main() {
  const uint r = gl_WorkGroupID.x;
  if (r >= step.n_rows) return;
  if (STORE) {
    for (uint i = gl_LocalInvocationID.x; i < p.coff * p.d; i += WG) store_state(r, i);
  }
  const uint pos = uint(step.rows[r].pos);
  if ((pos + 1u) % p.ratio != 0u) return;
  emit(uint(step.rows[r].seq), r, pos);
}
