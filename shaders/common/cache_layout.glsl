// Native cache entries (model-spec §4.6, design.md §1), mirrored by graph/vulkan/cache_layout.h.
// Caches are bound as uint[] and addressed in bytes; entries are 4-byte aligned.
//
// Main KV entry (window ring and compressed cache), head_dim = nope + rope:
//   bytes [0, nope)                      e4m3 codes of the nope dims (FP8 round-trip, block 64)
//   bytes [nope, nope + 2 rope)          rope dims as bf16
//   bytes [nope + 2 rope, + nope/64)     e8m0 scale of each 64-block of nope dims
//   padded to a multiple of 8            (448 + 128 + 7 -> 584 bytes for V4)
// Index key entry (ratio-4 layers), d = index_head_dim:
//   bytes [0, d/2)                       e2m1 codes, element 2j in the low nibble of byte j
//   bytes [d/2, d/2 + d/32)              e8m0 scale of each 32-block
//   padded to a multiple of 4            (64 + 4 -> 68 bytes for V4)
// Entry e of sequence slot s lives at (s * entries_per_seq + e) * entry_bytes.
#ifndef DSV4_CACHE_LAYOUT_GLSL
#define DSV4_CACHE_LAYOUT_GLSL

uint kv_rope_byte(uint nope) { return nope; }
uint kv_scale_byte(uint nope, uint rope) { return nope + 2u * rope; }
uint kv_entry_bytes(uint nope, uint rope) { return (nope + 2u * rope + (nope + 63u) / 64u + 7u) / 8u * 8u; }

uint index_scale_byte(uint d) { return d / 2u; }
uint index_entry_bytes(uint d) { return (d / 2u + (d + 31u) / 32u + 3u) / 4u * 4u; }

#endif  // DSV4_CACHE_LAYOUT_GLSL
