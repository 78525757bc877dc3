// Where a fixed list of dispatches needs pipeline barriers, derived from the buffer ranges each
// dispatch declares it reads and writes (call sites never write barriers). Pure logic, no Vulkan
// calls, so the hazard rules are unit-tested without a GPU.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsv4::vk {

struct BufferAccess {
  uint64_t buffer = 0;  // any id of the underlying buffer (the VkBuffer handle)
  uint64_t offset = 0, size = 0;
  bool write = false;
  bool indirect = false;  // read as dispatch-indirect arguments (a different pipeline stage)
};

struct BarrierPoint {
  bool needed = false;    // a barrier must precede this dispatch
  bool indirect = false;  // ... whose destination includes indirect-argument reads (set on every
                          // barrier of a list that has an indirect dispatch)
};

// One entry per dispatch. A barrier goes before dispatch i when i reads or writes a range that an
// earlier dispatch since the last barrier wrote (RAW, WAW), or writes a range such a dispatch read
// (WAR). Ranges conflict only when they overlap in the same buffer. A barrier orders everything
// before it, so the pending sets start over after each one.
std::vector<BarrierPoint> plan_barriers(const std::vector<std::vector<BufferAccess>>& dispatches);

bool overlaps(const BufferAccess& a, const BufferAccess& b);

// A reordering of the dispatches (their indices, a permutation) that plan_barriers turns into as
// few barriers as the dependencies allow: each dispatch is placed at level 1 + the highest level
// of the earlier dispatches it conflicts with (RAW, WAW, WAR on overlapping ranges; 0 with none),
// and the list is sorted by level, keeping the original order within a level. Every conflicting
// pair keeps its order and lands in different levels, so the results are those of the original
// order; dispatches of one level never conflict, so they share one barrier-free stretch.
std::vector<size_t> level_order(const std::vector<std::vector<BufferAccess>>& dispatches);

}  // namespace dsv4::vk
