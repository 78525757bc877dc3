// The lightning indexer's scoring and selection (model-spec §3.5.5): bf16 scores
// I[t,c] = sum_h w[t,h] * ReLU(qI[t,h] . KI[c]) and the top-min(TK, visible) entries.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace dsv4::graph {

// Scores of one query against index keys [0, visible): q [HI*DI], w [HI], keys [>= visible, DI].
// Each head's dot is rounded to bf16, ReLU'd, multiplied by w[h] (rounded to bf16), and the heads
// are summed in fp32 and rounded to bf16 (the reference's bf16 einsum and sum).
std::vector<float> index_scores(std::span<const float> q, std::span<const float> w, std::span<const float> keys,
                                int64_t head_dim, int64_t visible);

// Indices of the k largest values, best first; ties go to the lower index (CUDA torch.topk).
std::vector<int64_t> topk_indices(std::span<const float> values, int64_t k);

}  // namespace dsv4::graph
