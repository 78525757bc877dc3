// Manifold-constrained hyper-connections (model-spec §3.3): hc_pre collapses the n residual
// streams into one sub-layer input, hc_post expands the sub-layer output back, hc_head collapses
// for the final head. Streams are bf16 values; the mixing math is fp32.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace dsv4::graph {

struct HcParams {  // hc_{attn,ffn,head}_{fn,base,scale}
  std::span<const float> fn;     // [M, n*D] row-major (M = (2+n)*n, or n for hc_head)
  std::span<const float> base;   // [M]
  std::span<const float> scale;  // [3] (or [1] for hc_head)
};

struct HcMix {
  std::vector<float> pre;   // [n]
  std::vector<float> post;  // [n]
  std::vector<float> comb;  // [n*n], row j = input stream j, column k = output stream k
};

// Sinkhorn normalisation of an n x n matrix of logits (row softmax + eps, column normalise,
// then iters-1 x (row, column)); every normaliser has +eps in its denominator.
void sinkhorn(std::span<float> c, int64_t n, int64_t iters, float eps);

// m = (fn . x) * rsqrt(mean(x^2) + norm_eps) over the flattened streams X [n*D].
std::vector<float> hc_mixes(std::span<const float> streams, std::span<const float> fn, int64_t outputs,
                            float norm_eps);

// hc_pre: the mix of one token, and y = bf16(sum_i pre_i X_i) into `y` [D].
HcMix hc_pre(std::span<const float> streams, const HcParams& p, int64_t n, int64_t sinkhorn_iters,
             float hc_eps, float norm_eps, std::span<float> y);

// hc_post: X'_k = bf16(post_k f + sum_j comb_jk X_j), in place on `streams` [n*D].
void hc_post(std::span<const float> f, const HcMix& mix, int64_t n, std::span<float> streams);

// hc_head: pre_i = sigmoid(m_i*scale + base_i) + eps; y = bf16(sum_i pre_i X_i).
void hc_head(std::span<const float> streams, const HcParams& p, int64_t n, float hc_eps, float norm_eps,
             std::span<float> y);

}  // namespace dsv4::graph
