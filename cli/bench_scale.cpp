#include "cli/bench_scale.h"

#include <map>
#include <stdexcept>

namespace dsv4::cli {

int64_t layer_of_label(const std::string& label) {
  static const std::string prefix = "layers.";
  if (label.compare(0, prefix.size(), prefix) != 0) return -1;
  size_t i = prefix.size();
  int64_t n = 0;
  if (i >= label.size() || label[i] < '0' || label[i] > '9') return -1;
  for (; i < label.size() && label[i] >= '0' && label[i] <= '9'; ++i) n = n * 10 + (label[i] - '0');
  return i < label.size() && label[i] == '.' ? n : -1;
}

ScaledStep scale_step_profile(const ModelConfig& measured, const std::vector<std::pair<std::string, double>>& profile,
                              const ModelConfig& full) {
  ScaledStep s;
  std::vector<double> layer_ns(size_t(measured.n_layers), 0.0);
  double step_wide = 0;
  for (const auto& [label, ns] : profile) {
    s.measured_ns += ns;
    const int64_t l = layer_of_label(label);
    if (l < 0) {
      step_wide += ns;
      continue;
    }
    if (l >= measured.n_layers)
      throw std::invalid_argument("bench: dispatch '" + label + "' names a layer the model (" +
                                  std::to_string(measured.n_layers) + " layers) does not have");
    layer_ns[size_t(l)] += ns;
  }
  std::map<int64_t, std::pair<double, int64_t>> by_ratio;  // ratio -> (sum ns, layers)
  for (int64_t l = 0; l < measured.n_layers; ++l) {
    auto& [sum, count] = by_ratio[measured.ratio(l)];
    sum += layer_ns[size_t(l)];
    ++count;
  }
  s.scaled_ns = step_wide;
  for (int64_t l = 0; l < full.n_layers; ++l) {
    const auto it = by_ratio.find(full.ratio(l));
    if (it == by_ratio.end())
      throw std::invalid_argument("bench: cannot scale to " + std::to_string(full.n_layers) + " layers: layer " +
                                  std::to_string(l) + " has compress ratio " + std::to_string(full.ratio(l)) +
                                  ", and the measured model has no layer of that ratio");
    s.scaled_ns += it->second.first / double(it->second.second);
  }
  return s;
}

}  // namespace dsv4::cli
