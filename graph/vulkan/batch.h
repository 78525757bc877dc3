// Continuous batching on the VulkanExecutor (offline batch inference, `dsv4 batch`): up to
// max_seqs sequences decode together in one recorded decode step; a finished sequence frees its
// slot and the next waiting request is prefilled into it, one prefill chunk between decode steps,
// so running sequences keep decoding while new ones start. Nothing is re-recorded.
//
// Determinism: a request's tokens depend only on its prompt, its sampling parameters and seed
// (graph/sampling.h: the random stream ignores the slot), not on the batch size or on which
// requests run beside it, as long as decode steps use the same kernel paths (GEMV up to 8 rows).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "graph/vulkan/executor.h"

namespace dsv4::gpu {

struct BatchRequest {
  std::string id;  // opaque to the scheduler
  std::vector<int32_t> prompt;
  int64_t max_tokens = 256;
  SlotSampling sampling;
};

struct BatchResult {
  std::string id;
  std::vector<int32_t> tokens;  // generated ids (a final stop id included)
  std::string finish_reason;    // "stop" | "length"
  int64_t prompt_tokens = 0;
  double seconds = 0;           // from the start of its prefill to its last token
};

struct BatchStats {
  int64_t decode_steps = 0, prefill_steps = 0, generated = 0;
  double seconds = 0;
};

class BatchRunner {
 public:
  // `stop_ids`: ids that end a sequence (EOS). `stop(id, text_so_far_tokens)` lets the caller end
  // one on stop strings: return true to finish it ("stop").
  BatchRunner(VulkanExecutor& ex, std::vector<int32_t> stop_ids);

  // Runs every request; `done` is called as each finishes (in completion order), `progress`
  // after every step. `interrupted()` is polled between steps: when it returns true the run stops
  // after the current step (unfinished requests are not reported).
  BatchStats run(std::vector<BatchRequest> requests, const std::function<void(BatchResult&&)>& done,
                 const std::function<void(const BatchStats&)>& progress = {},
                 const std::function<bool()>& interrupted = {});

 private:
  VulkanExecutor& ex_;
  std::vector<int32_t> stop_ids_;
};

}  // namespace dsv4::gpu
