// The P.V pass of prefill sparse attention on fp16 16x16x16 cooperative matrices (NV; the build
// derives the KHR form, _khr), after scores_coopmat.comp and p_half.comp: decode_pv.comp's
// output for one split (the same push constants; writes o): o = bf16(sum p v / den) with the
// inverse RoPE (attention_output.glsl), p and den from p_half.comp. Per row a [heads x keys] x
// [keys x dims] product. Oracle graph::sparse_attention_head.
//
// Exactness: p arrives as exact fp16 (p * 2^15, p_half.comp). Each 32-key chunk of values (bf16,
// nope dims e4m3 * 2^k) is scaled by the power of two that brings its largest |v| into
// [2^14, 2^15) (exact down to 2^-31 of it) and each chunk's partial tile is added back times the
// inverse powers. Products are exact in fp32; the sums' order differs from the reference's.
//
// Workgroup: 128 threads = 4 subgroups of 32 (the host requires subgroups of 32): 64 heads x 128
// dims of one row; subgroup s owns heads 32 (s % 2) + [0, 32) x dims 64 (s / 2) + [0, 64) (2 x 4
// tiles), its p operands loaded straight from p16. Keys go 32 at a time: the values into
// registers, the chunk's maximum (barrier), fp16 into shared memory (barrier), multiply.
// Grid: (ceil(head_dim / 128), ceil(n_heads / 64), max_rows).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define DSV4_STEP_BINDING 0
#define DSV4_ROPE_BINDING 1
#include "step.glsl"
#include "rope.glsl"
#include "quant.glsl"
#include "cache_layout.glsl"
#include "coopmat.glsl"

layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 2) readonly buffer KV { vec4 kv4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Ring { uint ring[]; };
layout(std430, set = 0, binding = 4) readonly buffer Compressed { uint compressed[]; };
layout(std430, set = 0, binding = 5) readonly buffer IndexSel { int index_sel[]; };
// Bindings 6 and 9-11 (decode_pv.comp's sink and split partials) are unused here.
layout(std430, set = 0, binding = 7) readonly buffer P16 { uvec4 p16[]; };  // p_half.comp: [max_rows, HP, KP] fp16
layout(std430, set = 0, binding = 8) readonly buffer Den { float den_in[]; };  // p_half.comp: [max_rows, n_heads]
layout(std430, set = 0, binding = 12) writeonly buffer Out { vec4 o4[]; };

// sparse_attention.comp's push constants.
layout(push_constant) uniform Push {
  uint n_heads, head_dim, rope_dim, window;
  uint ratio, entries_per_seq, index_topk, n_splits;
  uint rope_slot;
  float scale;
  uint max_keys;
} pc;

#include "attention_keys.glsl"
#include "attention_output.glsl"

const uint THREADS = 128u;
const uint HG = 64u, DN = 128u, KC = 32u;  // heads, dims, keys per chunk
const uint VS = DN / 4u + 2u;               // value row stride in uvec2: 128 dims + 8 of padding
const uint ES = DN / 2u + 2u;               // epilogue row stride in uvec2 (2 fp32): 128 dims + 4

shared uvec2 smem[max(KC * VS, HG * ES)];   // staged values [key][dim] | epilogue fp32 [head][ES]
shared uint chunk_max[2];


void main() {
  const uint d_base = gl_WorkGroupID.x * DN, h0 = gl_WorkGroupID.y * HG, row = gl_WorkGroupID.z;
  const uint t = gl_LocalInvocationID.x, sg = gl_SubgroupID;
  if (row >= step.n_rows) return;  // uniform over the workgroup
  const uint n_active = min(HG, pc.n_heads - h0);
  const uint nk = n_keys(row);
  const uint words = kv_entry_bytes(pc.head_dim - pc.rope_dim, pc.rope_dim) / 4u;

  if (t < 2u) chunk_max[t] = 0u;
  barrier();

  // Value role: dims d_base + 4 vc, keys vk + 4i.
  const uint vc = t % (DN / 4u), vk = t / (DN / 4u);
  const uint hp = (pc.n_heads + HG - 1u) / HG * HG, kp = (pc.max_keys + KC - 1u) / KC * KC;

  CM_ACC acc[8], tmp[8];
  for (uint i = 0u; i < 8u; ++i) acc[i] = CM_ACC(0.0);
  const uint wh = (sg % 2u) * 32u, wd = (sg / 2u) * 64u;
  const uint p_row = (row * hp + h0 + wh) * kp;  // in fp16 units

  for (uint c = 0u, chunk = 0u; c < nk; c += KC, ++chunk) {
    vec4 v[KC / 4u];
    float mv = 0.0;
    for (uint i = 0u; i < KC / 4u; ++i) {
      const uint j = c + vk + 4u * i;
      uint at = 0u;
      const uint kind = j < nk ? describe_key(row, j, at) : KEY_NONE;
      v[i] = load_key(kind, at, d_base + 4u * vc, words);
      const vec4 a = abs(v[i]);
      mv = max(mv, max(max(a.x, a.y), max(a.z, a.w)));
    }
    mv = subgroupMax(mv);
    if (subgroupElect()) atomicMax(chunk_max[chunk % 2u], floatBitsToUint(mv));
    barrier();  // the chunk's value maximum; every subgroup is done with the previous chunk's tiles
    const int sv = fp16_chunk_shift(chunk_max[chunk % 2u]);
    if (t == 0u) chunk_max[(chunk + 1u) % 2u] = 0u;  // read at the previous chunk, before this barrier
    const float fv = ldexp(1.0, sv);
    for (uint i = 0u; i < KC / 4u; ++i) smem[(vk + 4u * i) * VS + vc] = pack_half4(v[i] * fv);
    barrier();
    for (uint i = 0u; i < 8u; ++i) tmp[i] = CM_ACC(0.0);
    for (uint kk = 0u; kk < KC; kk += 16u) {
      CM_A a[2];
      CM_B b[4];
      for (uint i = 0u; i < 2u; ++i) coopMatLoadNV(a[i], p16, (p_row + 16u * i * kp + c + kk) / 8u, kp / 8u, false);
      for (uint j = 0u; j < 4u; ++j) coopMatLoadNV(b[j], smem, kk * VS + (wd + 16u * j) / 4u, VS, false);
      for (uint i = 0u; i < 2u; ++i)
        for (uint j = 0u; j < 4u; ++j) tmp[4u * i + j] = coopMatMulAddNV(a[i], b[j], tmp[4u * i + j]);
    }
    const float bp = ldexp(1.0, -15), bv = ldexp(1.0, -sv);
    for (uint i = 0u; i < 8u; ++i) acc[i] = acc[i] + (tmp[i] * bp) * bv;
  }

  barrier();  // every subgroup is done with the staged chunks
  for (uint i = 0u; i < 8u; ++i)
    coopMatStoreNV(acc[i], smem, (wh + 16u * (i / 4u)) * ES + (wd + 16u * (i % 4u)) / 2u, ES, false);
  barrier();
  for (uint l = t; l < HG * (DN / 4u); l += THREADS) {
    const uint h = l / (DN / 4u), d0 = d_base + 4u * (l % (DN / 4u));
    if (h >= n_active || d0 >= pc.head_dim) continue;
    const uint e = h * ES + (d0 - d_base) / 2u;
    const vec4 a = vec4(uintBitsToFloat(smem[e]), uintBitsToFloat(smem[e + 1u]));
    o4[((row * pc.n_heads + h0 + h) * pc.head_dim + d0) / 4u] = attention_output(a, den_in[row * pc.n_heads + h0 + h], row, d0);
  }
}
