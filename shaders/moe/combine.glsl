// MoE combine (graph::moe_forward) of one output value: the routed experts' outputs summed in fp32
// by increasing expert id (stable: equal ids keep their slot order), then + the shared expert,
// rounded to bf16. Used by combine.comp and by
// mhc/hc_post.comp, which combines the FFN's output where it consumes it (one dispatch fewer).
// The including shader declares `route` (per row k ids then k weights) and `part` ([rows, k+1,
// dim] fp32 expert outputs) and includes quant.glsl; a workgroup combines values of one row and
// calls moe_combine_order first.
#ifndef DSV4_MOE_COMBINE_GLSL
#define DSV4_MOE_COMBINE_GLSL

const uint MOE_MAX_TOPK = 32u;  // graph/vulkan/moe.cpp checks topk <= this

// The row's slots in summing order, shared by the workgroup: one row per workgroup, so its first
// topk invocations rank the slots once instead of every invocation sorting them per value (each
// in a dynamically indexed local array: 3x hc_post's time at 4,096 prefill rows on an H100).
shared uint moe_order[MOE_MAX_TOPK];

// Every invocation of the workgroup calls it (it ends with a barrier) before moe_combine.
void moe_combine_order(uint row, uint topk) {
  const uint j = gl_LocalInvocationID.x, rbase = row * 2u * topk;
  if (j < topk) {  // slot j goes at position #{i : id_i < id_j or (id_i == id_j and i < j)}
    const uint idj = route[rbase + j];
    uint rank = 0u;
    for (uint i = 0u; i < topk; ++i) {
      const uint idi = route[rbase + i];
      if (idi < idj || (idi == idj && i < j)) ++rank;
    }
    moe_order[rank] = j;
  }
  barrier();
}

float moe_combine(uint row, uint d, uint dim, uint topk) {
  const uint k1 = topk + 1u;
  precise float acc = 0.0;
  for (uint pos = 0u; pos < topk; ++pos) acc += part[(row * k1 + moe_order[pos]) * dim + d];
  precise float total = acc + part[(row * k1 + topk) * dim + d];
  return round_bf16(total);
}

#endif  // DSV4_MOE_COMBINE_GLSL
