// The KV row after kv_norm (model-spec §3.5.2) into kv [max_rows, head_dim]: RoPE on the last
// rope_dim dims at the row's position, then the FP8 round-trip of the nope dims in blocks of 64
// (quant.glsl, bit-exact with graph::fp8_roundtrip). One workgroup per row; the row is staged in
// shared memory so a block's amax can scan values other invocations produced.
//   kv_finish.comp:      in place on kv (kv_norm ran before).
//   kv_finish_norm.comp: kv_norm fused (KV_NORM): kv = rms_norm(raw) first, exactly as
//                        norm/rms_norm.comp does it (graph::rms_norm bit for bit): one dependent
//                        dispatch fewer per layer. With RING_WRITE (decode) it also writes the
//                        finished row into the window ring (ring_entry.glsl), as window_write.comp
//                        would after the attention: another dispatch fewer.
// Include after #version and the include extension.
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"

layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 2) buffer KV { float kv[]; };

const uint MAX_DIM = 2048u + 512u;  // nope <= 2048 (attention.cpp check_entry), rope <= 512
const uint MAX_BLOCKS = 32u;        // nope / 64
shared float row_v[MAX_DIM];
shared int block_exp[MAX_BLOCKS];

#ifdef KV_NORM
#include "formats.glsl"
#include "../mhc/ff_math.glsl"
layout(std430, set = 0, binding = 3) readonly buffer Raw { float raw[]; };         // kv_norm's input
layout(std430, set = 0, binding = 4) readonly buffer NormW { uint w_bf16[]; };     // kv_norm weight, bf16 pairs
layout(push_constant) uniform Push {
  uint head_dim, rope_dim, rope_slot;
  uint depth;    // pairwise tree depth of head_dim (graph/vulkan/norms.cpp)
  float inv_dim; // fp32(1 / head_dim) as the host computes it
  float eps;
  uint window;   // RING_WRITE
} pc;
layout(constant_id = 0) const bool RING_WRITE = false;
layout(std430, set = 0, binding = 5) writeonly buffer Ring { uint ring[]; };  // RING_WRITE: the window ring
#include "cache_layout.glsl"
#define RING_VALUE(i) row_v[i]  // the finished row (main() stores it back)
#include "ring_entry.glsl"
uint row_base;
#define PW_MAX_SLOTS 1024u  // 2^depth <= 1024: head_dim <= 8192
#define PAIRWISE_TERM(i) (raw[row_base + (i)] * raw[row_base + (i)])
#include "../norm/pairwise.glsl"
#else
layout(push_constant) uniform Push { uint head_dim, rope_dim, rope_slot; } pc;
const bool RING_WRITE = false;
#endif

// The row into row_v: kv as it is, or (KV_NORM) rms_norm(raw) with norm/rms_norm.comp's operations.
void stage_row(uint base) {
#ifdef KV_NORM
  row_base = base;
  const float sum = pairwise_sum_wg(pc.head_dim, pc.depth);
  precise float ms = sum * pc.inv_dim;
  precise float shifted = ms + pc.eps;
  const float r = div_rn(1.0, sqrt_rn(shifted));
  for (uint c = gl_LocalInvocationID.x; c < pc.head_dim; c += 256u) {
    const float w = bf16_to_float(half_in_word(w_bf16[c >> 1], c));
    precise float v = w * (raw[base + c] * r);
    row_v[c] = round_bf16(v);
  }
#else
  for (uint c = gl_LocalInvocationID.x; c < pc.head_dim; c += 256u) row_v[c] = kv[base + c];
#endif
  barrier();
}

void main() {
  const uint row = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;
  const uint base = row * pc.head_dim, nope = pc.head_dim - pc.rope_dim, blocks = (nope + 63u) / 64u;
  stage_row(base);
  // Block amax is order-independent, so one thread per block scans it.
  for (uint b = t; b < blocks; b += 256u) {
    float amax = 0.0;
    for (uint i = b * 64u; i < min(nope, b * 64u + 64u); ++i) amax = max(amax, abs(row_v[i]));
    block_exp[b] = fp8_scale_exponent(amax);
  }
  barrier();
  // Each invocation stores back into row_v only the dims it owns (for RING_WRITE).
  for (uint i = t; i < nope; i += 256u) {
    const float v = fp8_roundtrip(row_v[i], block_exp[i / 64u]);
    kv[base + i] = v;
    if (RING_WRITE) row_v[i] = v;
  }
  for (uint pair = t; pair < pc.rope_dim / 2u; pair += 256u) {
    const uint i = nope + 2u * pair;
    const vec2 y = rope_rotate(vec2(row_v[i], row_v[i + 1u]), rope_cs(row, pc.rope_slot, pair), false);
    const float a = round_bf16(y.x), b = round_bf16(y.y);
    kv[base + i] = a;
    kv[base + i + 1u] = b;
    if (RING_WRITE) {
      row_v[i] = a;
      row_v[i + 1u] = b;
    }
  }
#ifdef KV_NORM
  if (RING_WRITE) {
    barrier();
    write_ring_entry(row, pc.head_dim, pc.rope_dim, pc.window);
  }
#endif
}
