// The keys a sparse-attention row sees (model-spec §3.5.8; graph/attention.cpp), shared by
// sparse_attention.comp and decode_scores.comp. Per row (a query at position p of sequence slot
// s) the keys are the window positions max(0,p-W+1)..p (positions before the row's chunk from the
// native ring, the others from this step's kv rows) then the compressed entries: the indexer's
// selection (ratio 4; -1 = none), or all c < (p+1)/ratio (ratio > 4), or none (ratio 0).
// The includer declares push constants `pc` (head_dim, rope_dim, window, ratio, entries_per_seq,
// index_topk, n_splits), the buffers kv4 (vec4[]), ring, compressed (uint[]) and index_sel (int[]), and
// includes step.glsl, quant.glsl and cache_layout.glsl.
#ifndef DSV4_ATTENTION_KEYS_GLSL
#define DSV4_ATTENTION_KEYS_GLSL

const uint KEY_NONE = 0, KEY_KV = 1, KEY_RING = 2, KEY_COMPRESSED = 3;

#include "attention_rows.glsl"

// Keys per split of a row with nk keys (flash-decoding splits, sparse_attention.comp and
// decode_pv.comp): spread evenly over pc.n_splits, at least SPLIT_STEP and whole SPLIT_STEP steps
// (sparse_attention.comp's key tile). n_splits is sized for the longest context the cache holds;
// the floor keeps a short context from leaving one key per split and the merge hundreds of
// near-empty partials. Splits from (nk + chunk - 1) / chunk on hold no keys.
const uint SPLIT_STEP = 8u;
uint split_chunk(uint nk) {
  return (max((nk + pc.n_splits - 1u) / pc.n_splits, SPLIT_STEP) + SPLIT_STEP - 1u) / SPLIT_STEP * SPLIT_STEP;
}

// Key j of the row: where it lives (kind) and its kv row or entry index (at).
uint describe_key(uint row, uint j, out uint at) {
  const StepRow r = step.rows[row];
  const int ws = max(0, r.pos - int(pc.window) + 1);
  const uint nw = uint(r.pos - ws + 1);
  if (j < nw) {
    const int qpos = ws + int(j), cs = step_chunk_start(row);
    if (qpos < cs) {
      at = uint(r.seq) * pc.window + uint(qpos) % pc.window;
      return KEY_RING;
    }
    at = uint(r.first_row + (qpos - cs));
    return KEY_KV;
  }
  int c = int(j - nw);
  if (pc.ratio == 4u) c = index_sel[row * pc.index_topk + uint(c)];
  at = uint(r.seq) * pc.entries_per_seq + uint(max(c, 0));
  return c < 0 ? KEY_NONE : KEY_COMPRESSED;
}

uint entry_word(bool from_ring, uint w) { return from_ring ? ring[w] : compressed[w]; }

// Dims d0..d0+3 of a native entry (cache_layout.glsl) starting at word `base`. nope % 4 == 0, so
// the four are all e4m3 codes of one 64-block (one word) or all bf16 (two words).
vec4 entry_dims(bool from_ring, uint base, uint d0) {
  const uint nope = pc.head_dim - pc.rope_dim;
  if (d0 < nope) {
    const uint sb = kv_scale_byte(nope, pc.rope_dim) + d0 / 64u;
    const uint codes = entry_word(from_ring, base + d0 / 4u);
    const int e = e8m0_exponent(byte_in_word(entry_word(from_ring, base + sb / 4u), sb));
    return vec4(ldexp(e4m3_to_float(byte_in_word(codes, 0u)), e), ldexp(e4m3_to_float(byte_in_word(codes, 1u)), e),
                ldexp(e4m3_to_float(byte_in_word(codes, 2u)), e), ldexp(e4m3_to_float(byte_in_word(codes, 3u)), e));
  }
  const uint w = base + (nope + 2u * (d0 - nope)) / 4u;
  const uint lo = entry_word(from_ring, w), hi = entry_word(from_ring, w + 1u);
  return vec4(bf16_to_float(lo & 0xffffu), bf16_to_float(lo >> 16), bf16_to_float(hi & 0xffffu), bf16_to_float(hi >> 16));
}

// Dims d0..d0+3 of key (kind, at); zeros past head_dim and for KEY_NONE. words: entry size / 4.
vec4 load_key(uint kind, uint at, uint d0, uint words) {
  if (kind == KEY_NONE || d0 >= pc.head_dim) return vec4(0.0);
  if (kind == KEY_KV) return kv4[(at * pc.head_dim + d0) / 4u];
  return entry_dims(kind == KEY_RING, at * words, d0);
}

#endif  // DSV4_ATTENTION_KEYS_GLSL
