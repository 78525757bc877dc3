#include "vk/barriers.h"

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

}  // namespace dsv4::vk
