#include "graph/vulkan/batch.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <stdexcept>

namespace dsv4::gpu {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Slot {
  std::optional<BatchRequest> req;
  size_t prefilled = 0;   // prompt tokens fed so far
  int32_t next = -1;      // the token the next decode step feeds (after the prefill)
  int64_t pos = 0;        // position of `next`
  BatchResult result;
  Clock::time_point start;
  bool decoding() const { return req && prefilled == req->prompt.size(); }
};

}  // namespace

BatchRunner::BatchRunner(VulkanExecutor& ex, std::vector<int32_t> stop_ids) : ex_(ex), stop_ids_(std::move(stop_ids)) {}

BatchStats BatchRunner::run(std::vector<BatchRequest> requests, const std::function<void(BatchResult&&)>& done,
                            const std::function<void(const BatchStats&)>& progress,
                            const std::function<bool()>& interrupted) {
  const uint32_t n_slots = ex_.options().max_seqs;
  const size_t chunk = ex_.options().prefill_chunk;
  const int64_t ctx = ex_.options().max_context;
  for (const BatchRequest& r : requests) {
    if (r.prompt.empty()) throw std::invalid_argument("request " + r.id + ": empty prompt");
    if (int64_t(r.prompt.size()) >= ctx)
      throw std::invalid_argument("request " + r.id + ": prompt of " + std::to_string(r.prompt.size()) +
                                  " tokens does not fit the context of " + std::to_string(ctx));
  }
  std::deque<BatchRequest> waiting(std::make_move_iterator(requests.begin()), std::make_move_iterator(requests.end()));
  std::vector<Slot> slots(n_slots);
  BatchStats st;
  const Clock::time_point t0 = Clock::now();

  // Records a generated token; finishes the sequence on a stop id, max_tokens or the context end.
  auto accept = [&](Slot& s, int32_t id) {
    s.result.tokens.push_back(id);
    ++st.generated;
    const bool stop = std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end();
    const bool length = int64_t(s.result.tokens.size()) >= s.req->max_tokens || s.pos + 1 >= ctx;
    if (stop || length) {
      s.result.finish_reason = stop ? "stop" : "length";
      s.result.seconds = since(s.start);
      done(std::move(s.result));
      s = Slot{};
      return;
    }
    s.next = id;
    s.pos += 1;
  };

  while (!(waiting.empty() && std::none_of(slots.begin(), slots.end(), [](const Slot& s) { return bool(s.req); }))) {
    if (interrupted && interrupted()) break;
    // Admit waiting requests into free slots.
    for (uint32_t i = 0; i < n_slots && !waiting.empty(); ++i) {
      if (slots[i].req) continue;
      slots[i] = Slot{};
      slots[i].req = std::move(waiting.front());
      waiting.pop_front();
      slots[i].result.id = slots[i].req->id;
      slots[i].result.prompt_tokens = int64_t(slots[i].req->prompt.size());
      slots[i].start = Clock::now();
      ex_.clear_slot(i);
      ex_.set_sampling(i, slots[i].req->sampling);
    }
    // One prefill chunk for the first slot still prefilling.
    for (uint32_t i = 0; i < n_slots; ++i) {
      Slot& s = slots[i];
      if (!s.req || s.decoding()) continue;
      const size_t n = std::min(chunk, s.req->prompt.size() - s.prefilled);
      std::vector<StepRow> rows;
      for (size_t j = 0; j < n; ++j)
        rows.push_back({s.req->prompt[s.prefilled + j], int32_t(s.prefilled + j), int32_t(i), 0});
      ex_.step(rows, true);
      ++st.prefill_steps;
      s.prefilled += n;
      if (s.decoding()) {
        s.pos = int64_t(s.prefilled) - 1;
        accept(s, ex_.sampled(1)[0]);
      }
      break;
    }
    // One decode step for every decoding slot.
    std::vector<StepRow> rows;
    std::vector<uint32_t> who;
    for (uint32_t i = 0; i < n_slots; ++i) {
      const Slot& s = slots[i];
      if (!s.decoding() || s.next < 0) continue;
      rows.push_back({s.next, int32_t(s.pos), int32_t(i), int32_t(rows.size())});
      who.push_back(i);
    }
    if (!rows.empty()) {
      ex_.step(rows, true);
      ++st.decode_steps;
      const std::vector<int32_t> ids = ex_.sampled(uint32_t(rows.size()));
      for (size_t k = 0; k < who.size(); ++k) accept(slots[who[k]], ids[k]);
    }
    st.seconds = since(t0);
    if (progress) progress(st);
  }
  st.seconds = since(t0);
  return st;
}

}  // namespace dsv4::gpu
