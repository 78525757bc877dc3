// Sparse attention with an attention sink (model-spec §3.5.3, §3.5.6, §3.5.8) and the rules that
// decide which keys a query sees: the window t-W+1..t, and compressed entries c < (t+1)//ratio.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace dsv4::graph {

// First window position visible to the query at t: max(0, t - window + 1).
int64_t window_start(int64_t t, int64_t window);
// Number of compressed entries visible to the query at t: (t+1) // ratio (0 when ratio == 0).
int64_t visible_compressed(int64_t t, int64_t ratio);

// One head: s_j = scale * (q . k_j) in fp32; m = max_j s_j; probabilities e^(s_j-m) are rounded
// to bf16 for P.V while the denominator sums the fp32 exponentials plus e^(sink-m) (the sink is a
// key with a zero value). Keys are also the values. Output rounded to bf16 into `out`.
void sparse_attention_head(std::span<const float> q, const std::vector<const float*>& keys, float scale,
                           float sink, std::span<float> out);

}  // namespace dsv4::graph
