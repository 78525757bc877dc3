// The tensor inventory of a DeepSeek-V4 model (model-spec §2.4): every tensor a config needs,
// with its released name, dtype(s) and shape, and the check of a checkpoint against it that
// reports every mismatch at once. make-model writes exactly this list.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "weights/model_config.h"
#include "weights/safetensors.h"

namespace dsv4 {

// How the quantised weights are stored. Instruct checkpoints: FP4 experts, E8M0 scales on FP8
// linears. Base checkpoints (§2.6): FP8 experts with 128x128 blocks, F32 scales on FP8 linears.
struct WeightFormats {
  ExpertDtype experts = ExpertDtype::FP4;
  DType fp8_scale = DType::F8_E8M0;  // or F32
};

struct ExpectedTensor {
  std::string name;
  std::vector<DType> dtypes;  // accepted dtypes; the first is what make-model writes
  std::vector<int64_t> shape;
  int64_t block = -1;      // layer id (MTP blocks: n_layers + k); -1 for top-level tensors
  int64_t expert = -1;     // routed expert id, -1 otherwise
  bool is_scale = false;   // a `.scale` companion
};

// The tensors of `c` in canonical order (top level, layers.0 ... layers.{n-1}, mtp.0 ...), each
// with exactly the dtype `f` prescribes.
std::vector<ExpectedTensor> model_inventory(const ModelConfig& c, const WeightFormats& f);

// What a loader accepts: the experts' format from the config (or, when config.json does not say,
// from the header of the first expert weight), and either E8M0 or F32 for every FP8 scale.
std::vector<ExpectedTensor> accepted_inventory(const ModelConfig& c, const Checkpoint& ckpt);
ExpertDtype infer_expert_dtype(const ModelConfig& c, const Checkpoint& ckpt);

struct InventoryMismatch {
  std::string name;
  std::string expected;  // "BF16 [4096]", or "(absent)" for an unknown tensor
  std::string found;     // "F32 [4096]", or "(missing)"
  std::string file;      // the shard holding it, empty when missing
  std::string to_string() const;
};

// Every mismatch between `ckpt` and the inventory: missing tensors, wrong dtype or shape, unknown
// extra tensors, tid2eid entries outside [0, n_routed_experts).
std::vector<InventoryMismatch> check_inventory(const ModelConfig& c, const Checkpoint& ckpt);
// Throws one ModelError listing all mismatches ("N tensor mismatches in DIR: a (...); b (...)").
void require_inventory(const ModelConfig& c, const Checkpoint& ckpt);

std::string describe(DType t, const std::vector<int64_t>& shape);  // "F8_E4M3 [1024, 4096]"

}  // namespace dsv4
