// A model directory opened and checked in one call: config.json parsed and validated, the
// checkpoint mapped with every header validated, and the tensor inventory complete. What the
// CPU reference and the Vulkan loader start from.
#pragma once
#include <filesystem>

#include "weights/inventory.h"
#include "weights/model_config.h"
#include "weights/safetensors.h"

namespace dsv4 {

struct ModelDir {
  ModelConfig config;
  Checkpoint checkpoint;
  WeightFormats formats;  // as found in the checkpoint (experts FP4/FP8, FP8 scales E8M0/F32)
};

// Throws ModelError naming the file/key/tensor at fault (all inventory mismatches at once).
ModelDir open_model_dir(const std::filesystem::path& dir);

}  // namespace dsv4
