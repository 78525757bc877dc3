// Shared helpers of the graph tests: the fixture's logits metrics (tests/data/tiny-a/README.md) and
// reading the fixture's tokens.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsv4::graph::testing {

struct LogitMetrics {
  double median_rel = 0, max_rel = 0;  // ||cand - ref|| / ||ref|| per row
  double mean_kl = 0;                  // KL(softmax(ref) || softmax(cand)), nats
  double max_regret = 0;               // max(ref) - ref[argmax(cand)]
  int64_t top1_agree = 0, rows = 0;
};

// compare_logits: both arrays row-major [rows, cols].

inline LogitMetrics compare_logits(const std::vector<float>& ref, const std::vector<float>& cand, int64_t cols) {
  if (ref.size() != cand.size() || cols <= 0 || ref.size() % size_t(cols) != 0) {
    throw std::invalid_argument("compare_logits: shape mismatch");
  }
  LogitMetrics m;
  m.rows = int64_t(ref.size()) / cols;
  std::vector<double> rel;
  for (int64_t r = 0; r < m.rows; ++r) {
    const float* a = ref.data() + r * cols;
    const float* b = cand.data() + r * cols;
    double num = 0, den = 0;
    int64_t arg_a = 0, arg_b = 0;
    for (int64_t j = 0; j < cols; ++j) {
      num += double(b[j] - a[j]) * double(b[j] - a[j]);
      den += double(a[j]) * double(a[j]);
      if (a[j] > a[arg_a]) arg_a = j;
      if (b[j] > b[arg_b]) arg_b = j;
    }
    rel.push_back(std::sqrt(num / den));
    double za = 0, zb = 0;
    for (int64_t j = 0; j < cols; ++j) za += std::exp(double(a[j]) - a[arg_a]), zb += std::exp(double(b[j]) - b[arg_b]);
    double kl = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double la = double(a[j]) - a[arg_a] - std::log(za), lb = double(b[j]) - b[arg_b] - std::log(zb);
      kl += std::exp(la) * (la - lb);
    }
    m.mean_kl += kl / double(m.rows);
    m.max_regret = std::max(m.max_regret, double(a[arg_a]) - double(a[arg_b]));
    m.top1_agree += arg_a == arg_b;
  }
  std::sort(rel.begin(), rel.end());
  const size_t n = rel.size();
  m.median_rel = n % 2 ? rel[n / 2] : 0.5 * (rel[n / 2 - 1] + rel[n / 2]);
  m.max_rel = rel.back();
  return m;
}

inline std::vector<int64_t> read_token_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), ',', ' ');
  std::istringstream in(text);
  std::vector<int64_t> ids;
  for (int64_t v; in >> v;) ids.push_back(v);
  return ids;
}


}  // namespace dsv4::graph::testing
