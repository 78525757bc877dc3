// Helpers of the session consistency tests: synthetic models written by weights/ (make-model's
// generator) into a scratch directory, and a prefill-then-decode driver.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "graph/model_weights.h"
#include "graph/session.h"
#include "weights/synthetic_model.h"

namespace dsv4::graph::testing {

namespace fs = std::filesystem;

inline fs::path scratch_dir() {
  return fs::temp_directory_path() / ("dsv4_graph_session_test_" + std::to_string(::getpid()));
}

inline std::shared_ptr<const ModelWeights> synthetic(const std::string& preset, int64_t layers, ExpertDtype experts,
                                              uint64_t seed) {
  SyntheticOptions o;
  o.preset = preset;
  o.layers = layers;
  o.experts = experts;
  o.seed = seed;
  const fs::path dir = scratch_dir() / (preset + "_" + std::to_string(seed));
  write_synthetic_model(o, dir, true);
  auto w = std::make_shared<const ModelWeights>(load_model_weights(dir));
  fs::remove_all(dir);
  return w;
}

// Logits of every position when tokens[0:p] are prefilled (chunked) and the rest decoded.
inline std::vector<std::vector<float>> run(const std::shared_ptr<const ModelWeights>& w, const std::vector<int64_t>& t,
                                    size_t p, int64_t chunk) {
  Session s(w, {.max_context = 0, .prefill_chunk = chunk});
  std::vector<std::vector<float>> rows;
  rows.push_back(s.prefill(std::span<const int64_t>(t.data(), p)));
  for (size_t i = p; i < t.size(); ++i) rows.push_back(s.decode(t[i]));
  return rows;
}

}  // namespace dsv4::graph::testing
