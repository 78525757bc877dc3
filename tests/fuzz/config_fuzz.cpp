// Fuzzes config.json parsing (weights/model_config.h): arbitrary text must be rejected with
// ModelError or give a config whose derived inventory and statistics compute without overflow.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "weights/error.h"
#include "weights/model_config.h"
#include "weights/model_stats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    const dsv4::ModelConfig c = dsv4::parse_model_config(j, "fuzz.json");
    (void)dsv4::kv_stats(c).at_ctx(c.max_position_embeddings > 0 ? c.max_position_embeddings : 4096);
    // The inventory lists every expert tensor: keep it to configs that are cheap to enumerate.
    if (c.n_blocks() * c.n_routed_experts <= 4096) (void)dsv4::param_stats(c, {});
    (void)dsv4::parse_model_config(dsv4::model_config_to_json(c), "again");  // what we write, we read
  } catch (const dsv4::ModelError&) {
  }
  return 0;
}
