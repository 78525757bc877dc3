// MoE combine (graph::moe_forward) of one output value: the routed experts' outputs summed in fp32
// by increasing expert id (stable: equal ids keep their slot order), then + the shared expert,
// rounded to bf16. The k ids are re-sorted per value (k is small). Used by combine.comp and by
// mhc/hc_post.comp, which combines the FFN's output where it consumes it (one dispatch fewer).
// The including shader declares `route` (per row k ids then k weights) and `part` ([rows, k+1,
// dim] fp32 expert outputs) and includes quant.glsl.
#ifndef DSV4_MOE_COMBINE_GLSL
#define DSV4_MOE_COMBINE_GLSL

const uint MOE_MAX_TOPK = 32u;  // graph/vulkan/moe.cpp checks topk <= this

float moe_combine(uint row, uint d, uint dim, uint topk) {
  const uint k1 = topk + 1u;
  const uint rbase = row * 2u * topk;
  precise float acc = 0.0;
  // Slot j goes at position #{i : id_i < id_j or (id_i == id_j and i < j)} (a stable sort by id).
  uint order[MOE_MAX_TOPK];
  for (uint j = 0u; j < topk; ++j) {
    const uint idj = route[rbase + j];
    uint rank = 0u;
    for (uint i = 0u; i < topk; ++i) {
      const uint idi = route[rbase + i];
      if (idi < idj || (idi == idj && i < j)) ++rank;
    }
    order[rank] = j;
  }
  for (uint pos = 0u; pos < topk; ++pos) acc += part[(row * k1 + order[pos]) * dim + d];
  precise float total = acc + part[(row * k1 + topk) * dim + d];
  return round_bf16(total);
}

#endif  // DSV4_MOE_COMBINE_GLSL
