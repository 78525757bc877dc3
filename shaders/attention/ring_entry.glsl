// One finished KV row -> its window-ring entry in the native format (cache_layout.glsl), ring
// [seqs][window][entry] at slot pos % window (model-spec §3.5.3), for the rows among the last
// `window` of their sequence in the step (the sequence's rows are contiguous, so row r is one of
// them iff row r + window is past the step or belongs to another sequence). Shared by
// window_write.comp (values from the kv buffer) and kv_finish_main.glsl (RING_WRITE: its own
// finished values, decode).
// The encoding is lossless on the round-trip values (graph/vulkan/cache_layout.h explains the
// smallest-scale rule) and byte-identical to gpu::encode_kv_entry.
// The includer defines RING_VALUE(i) (dim i of the row being written, as a float), declares
// `ring` (uint[]) and includes step.glsl, quant.glsl and cache_layout.glsl.
#ifndef DSV4_RING_ENTRY_GLSL
#define DSV4_RING_ENTRY_GLSL

const uint RING_MAX_BLOCKS = 32u;  // nope / 64
shared int ring_exp[RING_MAX_BLOCKS];

// Smallest e with amax / 2^e <= 448 (amax = m 2^k: e = k - 8, plus one when m > 1.75).
int min_fp8_exponent(float amax) {
  if (!(amax > 0.0)) return 0;
  const uint u = floatBitsToUint(amax);
  const int k = int((u >> 23) & 0xffu) - 127;
  return clamp(k - 8 + ((u & 0x7fffffu) > 0x600000u ? 1 : 0), -127, 127);
}

uint ring_entry_byte(uint b, uint nope, uint rope_dim) {
  if (b < nope) return e4m3_code(e4m3_round(ldexp(RING_VALUE(b), -ring_exp[b / 64u])));
  const uint scale_at = kv_scale_byte(nope, rope_dim);
  if (b < scale_at) {
    const uint half_bits = float_to_bf16(RING_VALUE(nope + (b - nope) / 2u));
    return ((b - nope) & 1u) == 0u ? (half_bits & 0xffu) : (half_bits >> 8);
  }
  if (b < scale_at + (nope + 63u) / 64u) return e8m0_code(ring_exp[b - scale_at]);
  return 0u;  // padding
}

// Every invocation of the workgroup calls it (it has a barrier); uniform per row.
void write_ring_entry(uint row, uint head_dim, uint rope_dim, uint window) {
  const uint later = row + window;
  if (later < step.n_rows && step.rows[later].first_row == step.rows[row].first_row) return;
  const uint t = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  const uint nope = head_dim - rope_dim, blocks = (nope + 63u) / 64u;
  // Block amax is order-independent, so one invocation per block scans it.
  for (uint b = t; b < blocks; b += threads) {
    float amax = 0.0;
    for (uint i = b * 64u; i < min(nope, b * 64u + 64u); ++i) amax = max(amax, abs(RING_VALUE(i)));
    ring_exp[b] = min_fp8_exponent(amax);
  }
  barrier();
  const StepRow r = step.rows[row];
  const uint words = kv_entry_bytes(nope, rope_dim) / 4u;
  const uint slot = uint(r.seq) * window + uint(r.pos) % window;
  for (uint w = t; w < words; w += threads) {
    uint word = 0u;
    for (uint j = 0u; j < 4u; ++j) word |= ring_entry_byte(4u * w + j, nope, rope_dim) << (8u * j);
    ring[slot * words + w] = word;
  }
}

#endif  // DSV4_RING_ENTRY_GLSL
