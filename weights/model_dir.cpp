#include "weights/model_dir.h"

namespace dsv4 {

ModelDir open_model_dir(const std::filesystem::path& dir) {
  ModelConfig config = load_model_config(dir);
  Checkpoint checkpoint = Checkpoint::open(dir);
  require_inventory(config, checkpoint);
  WeightFormats f;
  f.experts = infer_expert_dtype(config, checkpoint);
  if (const TensorInfo* s = checkpoint.find("layers.0.attn.wq_a.scale")) f.fp8_scale = s->dtype;
  return {std::move(config), std::move(checkpoint), f};
}

}  // namespace dsv4
