// Query heads after wq_b (model-spec §3.5.1), in place on q [max_rows, n_heads * head_dim]: the
// weightless per-head RMS norm in bf16 arithmetic (graph/norms.cpp head_rms_norm_bf16), then RoPE
// on the last rope_dim dims at the row's position.
// Each head's sum of squares runs sequentially in one invocation, in the reference's order, so the
// norm is bit-identical (bf16-rounded squares summed in fp32 are order-sensitive). A workgroup
// takes 32 heads of one row: their dims come through shared memory 64 at a time (coalesced loads
// by all 256 invocations), 32 invocations each chain one head's adds over a vec4 per read; then
// every invocation scales and rotates its share of the 32 heads (a workgroup per head, with one
// invocation chaining 512 shared-memory reads, took 4 ms a layer at 4,096 rows on an H100).
// An invocation loads every vec4 it stages at once (one memory round trip, not one per chunk
// after the previous chunk's barrier) and keeps them to scale and rotate the same vec4s, so q is
// read once (re-reading it took a round trip per vec4: the loads could not pass the stores).
// Grid: (ceil(n_heads / 32), max_rows).
// Included after #version by q_heads.comp and q_heads_half.comp (QH_HALF_OUT: the prefill
// queries of scores_coopmat.comp written as q_half.comp writes them, q left as it was).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"
#include "q_head_math.glsl"

layout(local_size_x = 256) in;
#ifdef QH_HALF_OUT
#define QH_Q_QUALIFIER readonly
#else
#define QH_Q_QUALIFIER
#endif
layout(std430, set = 0, binding = 2) QH_Q_QUALIFIER buffer Q { vec4 q4[]; };  // head_dim % 4 == 0
#ifdef QH_HALF_OUT
// q_half.comp's outputs: q16 [max_rows, n_heads, head_dim] fp16 (n_heads % 64 == 0 and head_dim %
// 64 == 0 here, so no padding), each 64-dim chunk of a 32-head group times 2^s, and the shifts
// [max_rows, n_heads / 32, head_dim / 64].
layout(std430, set = 0, binding = 3) writeonly buffer Q16 { uvec2 q16[]; };
layout(std430, set = 0, binding = 4) writeonly buffer QShift { int q_shift[]; };
#include "fp16_chunk.glsl"
shared uint chunk_max[8];
#endif
layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, rope_slot;
  float eps;
} pc;

const uint THREADS = 256u;
const uint HG = 32u;          // heads per workgroup
const uint DC4 = 16u;         // vec4 per staged chunk of a head (64 dims)
const uint MAX_CHUNKS = 8u;   // head_dim <= 512 (graph/vulkan/attention.cpp kMaxHeadDim)
const uint PER = HG * DC4 / THREADS;  // vec4 an invocation stages per chunk
shared vec4 chunk[HG][DC4 + 1u];
shared float inv_rms[HG];

void main() {
  const uint h0 = gl_WorkGroupID.x * HG, row = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  const uint hd4 = pc.head_dim / 4u;
  const uint n_heads = min(HG, pc.n_heads - h0);
  const uint base4 = (row * pc.n_heads + h0) * hd4;  // the group's first head
  const uint n_chunks = (hd4 + DC4 - 1u) / DC4;
#ifdef QH_HALF_OUT
  if (t < MAX_CHUNKS) chunk_max[t] = 0u;  // the barriers below come before the first atomicMax
#endif

  // vec4 k of chunk c of this invocation: head (t + THREADS k) / DC4, vec4 c DC4 + (t + THREADS k) % DC4.
  vec4 mine[MAX_CHUNKS][PER];
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c) {
    [[unroll]] for (uint k = 0u; k < PER; ++k) {
      const uint l = t + THREADS * k, h = l / DC4, d4 = c * DC4 + l % DC4;
      mine[c][k] = c < n_chunks && h < n_heads && d4 < hd4 ? q4[base4 + h * hd4 + d4] : vec4(0.0);
    }
  }

  float sum = 0.0;  // invocation t < HG: head h0 + t
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c) {
    if (c >= n_chunks) break;  // uniform
    [[unroll]] for (uint k = 0u; k < PER; ++k) {
      const uint l = t + THREADS * k;
      chunk[l / DC4][l % DC4] = mine[c][k];
    }
    barrier();
    if (t < n_heads) {
      const uint n = min(DC4, hd4 - c * DC4);
      for (uint v = 0u; v < n; ++v) {
        const vec4 x = chunk[t][v];
        for (uint i = 0u; i < 4u; ++i) sum += qh_square(x[i]);
      }
    }
    barrier();  // the chunk is read before the next one overwrites it
  }
  if (t < n_heads) inv_rms[t] = qh_inv_rms(sum, pc.head_dim, pc.eps);
  barrier();

  // Scale and rotate each kept vec4.
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c) {
    [[unroll]] for (uint k = 0u; k < PER; ++k) {
      const uint l = t + THREADS * k, h = l / DC4, d4 = c * DC4 + l % DC4, i = 4u * d4;
      if (c < n_chunks && h < n_heads && d4 < hd4) {
        const vec4 y = qh_finish(mine[c][k], inv_rms[h], i, row, pc.head_dim, pc.rope_dim, pc.rope_slot);
#ifdef QH_HALF_OUT
        mine[c][k] = y;
#else
        q4[base4 + h * hd4 + d4] = y;
#endif
      }
#ifdef QH_HALF_OUT
      else {
        mine[c][k] = vec4(0.0);
      }
#endif
    }
  }
#ifdef QH_HALF_OUT
  // q_half.comp's arithmetic on the same values: the chunk's largest |q| over the 32 heads (a max:
  // any order), its shift, the scaled values as fp16.
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c) {
    float m = 0.0;
    [[unroll]] for (uint k = 0u; k < PER; ++k) {
      const vec4 a = abs(mine[c][k]);
      m = max(m, max(max(a.x, a.y), max(a.z, a.w)));
    }
    m = subgroupMax(m);
    if (c < n_chunks && subgroupElect()) atomicMax(chunk_max[c], floatBitsToUint(m));
  }
  barrier();
  const uint hq = row * pc.n_heads + h0;  // q16 row of the group's first head
  [[unroll]] for (uint c = 0u; c < MAX_CHUNKS; ++c) {
    if (c < n_chunks) {
      const int s = fp16_chunk_shift(chunk_max[c]);
      const float f = ldexp(1.0, s);
      [[unroll]] for (uint k = 0u; k < PER; ++k) {
        const uint l = t + THREADS * k, h = l / DC4, d4 = c * DC4 + l % DC4;
        if (h < n_heads) q16[(hq + h) * hd4 + d4] = pack_half4(mine[c][k] * f);
      }
      if (t == 0u) q_shift[(row * (pc.n_heads / HG) + gl_WorkGroupID.x) * n_chunks + c] = s;
    }
  }
#endif
}
