// A plain parallel-for over [0, n) for the CPU reference's big GEMVs: contiguous ranges on
// std::threads, and inline when the work is too small to pay for the threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace dsv4::graph {

// `work` is a rough operation count; below ~1M the loop runs on the calling thread.
template <class F>
void parallel_for(int64_t n, int64_t work, F&& body) {
  const int64_t hw = std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()));
  const int64_t threads = std::min<int64_t>({hw, n, std::max<int64_t>(1, work / (1 << 20))});
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t per = (n + threads - 1) / threads;
  for (int64_t t = 0; t < threads; ++t) {
    const int64_t lo = t * per, hi = std::min(n, lo + per);
    if (lo >= hi) break;
    pool.emplace_back([lo, hi, &body] {
      for (int64_t i = lo; i < hi; ++i) body(i);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace dsv4::graph
