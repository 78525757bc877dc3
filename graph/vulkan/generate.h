// Text generation on the VulkanExecutor: prefill the prompt in chunks, then decode with the GPU
// sampler feeding each step's token to the next (the host only reads the id for output), until
// EOS, a stop condition of the caller, or max_tokens.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "graph/vulkan/executor.h"

namespace dsv4::gpu {

struct GenerateOptions {
  int64_t max_tokens = 256;
  SlotSampling sampling;
  std::vector<int32_t> stop_ids;  // e.g. EOS
};

struct GenerateResult {
  std::vector<int32_t> tokens;    // generated ids (the stop id included if one ended it)
  std::string finish_reason;      // "stop" (stop id or callback), "length" (max_tokens / context)
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// `on_token(id)` is called for every generated id; returning false stops (finish "stop").
GenerateResult generate(VulkanExecutor& ex, int32_t slot, int64_t start_pos, std::span<const int32_t> prompt,
                        const GenerateOptions& o, const std::function<bool(int32_t)>& on_token);

}  // namespace dsv4::gpu
