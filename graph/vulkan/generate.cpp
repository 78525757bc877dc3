#include "graph/vulkan/generate.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace dsv4::gpu {

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

GenerateResult generate(VulkanExecutor& ex, int32_t slot, int64_t start_pos, std::span<const int32_t> prompt,
                        const GenerateOptions& o, const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) throw std::invalid_argument("the prompt is empty");
  const int64_t ctx = ex.options().max_context;
  if (start_pos + int64_t(prompt.size()) > ctx)
    throw std::invalid_argument("the prompt has " + std::to_string(start_pos + int64_t(prompt.size())) +
                                " tokens, more than the context of " + std::to_string(ctx) + " (raise --ctx)");
  GenerateResult r;
  r.prompt_tokens = int64_t(prompt.size());
  ex.set_sampling(uint32_t(slot), o.sampling);
  const auto t0 = std::chrono::steady_clock::now();
  const size_t chunk = ex.options().prefill_chunk;
  int64_t pos = start_pos;
  for (size_t i = 0; i < prompt.size(); i += chunk) {
    const size_t n = std::min(chunk, prompt.size() - i);
    std::vector<StepRow> rows;
    for (size_t j = 0; j < n; ++j) rows.push_back({prompt[i + j], int32_t(pos + int64_t(j)), slot, 0});
    ex.step(rows, i + n == prompt.size());
    pos += int64_t(n);
  }
  int32_t id = ex.sampled(1)[0];
  r.prefill_seconds = since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  while (true) {
    r.tokens.push_back(id);
    const bool stop_id = std::find(o.stop_ids.begin(), o.stop_ids.end(), id) != o.stop_ids.end();
    if (!on_token(id) || stop_id) {
      r.finish_reason = "stop";
      break;
    }
    if (int64_t(r.tokens.size()) >= o.max_tokens || pos >= ctx) {
      r.finish_reason = "length";
      break;
    }
    const StepRow row{id, int32_t(pos), slot, 0};
    ex.step_feedback(std::span<const StepRow>(&row, 1), true);  // the token is already on the GPU
    ++pos;
    id = ex.sampled(1)[0];
  }
  r.decode_seconds = since(t1);
  return r;
}

}  // namespace dsv4::gpu
