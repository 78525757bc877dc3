// Native cache entries (C++ mirror of shaders/common/cache_layout.glsl; model-spec §4.6): the byte
// layout of the main KV entry (window ring and compressed cache) and of the index-key entry, and
// host encoders/decoders on float spans (tests, debugging, host-side cache import/export).
//
// The encoders are LOSSLESS on the values the reference stores: a KV entry's nope dims are FP8
// round-trip results (fp8_roundtrip, block 64) and its rope dims bf16; an index key is an FP4
// round-trip result (fp4_roundtrip, block 32). Each block gets the SMALLEST power-of-two scale with
// amax / scale within the format's range; the reference's own scale is that one or larger, and
// every value on its grid is also on the grid of a smaller scale, so decode(encode(x)) == x bit
// for bit. (Re-deriving the official scale from already-rounded values can land one step off, so
// it is not used.) A value not on any such grid makes the encoder throw std::invalid_argument.
// The GPU encoder (shaders/attention/kv_entry.glsl) uses the same rule, so bytes agree too.
#pragma once
#include <cstdint>
#include <span>

namespace dsv4::gpu {

struct KvEntryLayout {
  uint32_t nope = 0, rope = 0;  // head_dim = nope + rope (448 + 64 for V4)
  uint32_t rope_byte() const { return nope; }
  uint32_t scale_byte() const { return nope + 2 * rope; }
  uint32_t blocks() const { return (nope + 63) / 64; }
  uint32_t bytes() const { return (nope + 2 * rope + blocks() + 7) / 8 * 8; }  // 584 for V4
  uint32_t head_dim() const { return nope + rope; }
};

struct IndexEntryLayout {
  uint32_t dim = 0;  // index_head_dim (128 for V4)
  uint32_t scale_byte() const { return dim / 2; }
  uint32_t blocks() const { return (dim + 31) / 32; }
  uint32_t bytes() const { return (dim / 2 + blocks() + 3) / 4 * 4; }  // 68 for V4
};

// Byte offset of entry `entry` of sequence slot `seq` (entries_per_seq entries per slot).
inline uint64_t entry_offset(uint32_t seq, uint64_t entry, uint64_t entries_per_seq, uint32_t entry_bytes) {
  return (uint64_t(seq) * entries_per_seq + entry) * entry_bytes;
}

// x: head_dim floats (nope then rope); out: layout.bytes() bytes (padding zeroed).
void encode_kv_entry(const KvEntryLayout& layout, std::span<const float> x, std::span<uint8_t> out);
// entry: layout.bytes() bytes; out: head_dim floats.
void decode_kv_entry(const KvEntryLayout& layout, std::span<const uint8_t> entry, std::span<float> out);

// x: dim floats; out: layout.bytes() bytes (padding zeroed).
void encode_index_entry(const IndexEntryLayout& layout, std::span<const float> x, std::span<uint8_t> out);
void decode_index_entry(const IndexEntryLayout& layout, std::span<const uint8_t> entry, std::span<float> out);

}  // namespace dsv4::gpu
