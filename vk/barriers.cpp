#include "vk/barriers.h"

#include <algorithm>
#include <unordered_map>

namespace dsv4::vk {

bool overlaps(const BufferAccess& a, const BufferAccess& b) {
  return a.buffer == b.buffer && a.size > 0 && b.size > 0 && a.offset < b.offset + b.size &&
         b.offset < a.offset + a.size;
}

namespace {

bool hazard(const std::vector<BufferAccess>& mine, const std::vector<BufferAccess>& pending_writes,
            const std::vector<BufferAccess>& pending_reads) {
  for (const BufferAccess& a : mine) {
    for (const BufferAccess& w : pending_writes)
      if (overlaps(a, w)) return true;  // RAW or WAW
    if (a.write)
      for (const BufferAccess& r : pending_reads)
        if (overlaps(a, r)) return true;  // WAR
  }
  return false;
}

}  // namespace

std::vector<BarrierPoint> plan_barriers(const std::vector<std::vector<BufferAccess>>& dispatches) {
  std::vector<BarrierPoint> plan(dispatches.size());
  std::vector<BufferAccess> writes, reads;  // since the last barrier
  for (size_t i = 0; i < dispatches.size(); ++i) {
    const auto& mine = dispatches[i];
    if (hazard(mine, writes, reads)) {
      plan[i].needed = true;
      writes.clear();
      reads.clear();
    }
    for (const BufferAccess& a : mine) (a.write ? writes : reads).push_back(a);
  }
  // Any later indirect read may depend on a write ordered by any barrier: all barriers cover the
  // indirect stage once one dispatch is indirect.
  bool any_indirect = false;
  for (const auto& d : dispatches)
    for (const BufferAccess& a : d) any_indirect = any_indirect || a.indirect;
  for (BarrierPoint& p : plan) p.indirect = p.needed && any_indirect;
  return plan;
}

std::vector<size_t> level_order(const std::vector<std::vector<BufferAccess>>& dispatches) {
  // Per buffer, the earlier accesses with their dispatch's level: a read conflicts only with
  // earlier writes, a write with every earlier access (weights, read by many, are never scanned).
  struct Seen {
    uint64_t offset, size;
    size_t level;
  };
  struct PerBuffer {
    std::vector<Seen> writes, reads;
  };
  std::unordered_map<uint64_t, PerBuffer> seen;
  std::vector<size_t> level(dispatches.size(), 0);
  const auto after = [](const std::vector<Seen>& list, const BufferAccess& a, size_t& lvl) {
    for (const Seen& s : list)
      if (overlaps(a, {a.buffer, s.offset, s.size, false, false})) lvl = std::max(lvl, s.level + 1);
  };
  for (size_t i = 0; i < dispatches.size(); ++i) {
    size_t lvl = 0;
    for (const BufferAccess& a : dispatches[i]) {
      const auto it = seen.find(a.buffer);
      if (it == seen.end()) continue;
      after(it->second.writes, a, lvl);
      if (a.write) after(it->second.reads, a, lvl);
    }
    level[i] = lvl;
    for (const BufferAccess& a : dispatches[i]) {
      if (a.size == 0) continue;
      PerBuffer& b = seen[a.buffer];
      (a.write ? b.writes : b.reads).push_back({a.offset, a.size, lvl});
    }
  }
  std::vector<size_t> order(dispatches.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return level[a] < level[b]; });
  return order;
}

}  // namespace dsv4::vk
