#include "vk/recording.h"

#include "vk/barriers.h"
#include "vk/device.h"
#include "vk/error.h"
#include "vk/make.h"
#include "vk/kernel.h"

namespace dsv4::vk {

namespace {

std::string dispatch_name(const Dispatch& d, size_t i) {
  std::string name = "dispatch " + std::to_string(i);
  if (d.kernel) name += " (" + (d.label.empty() ? d.kernel->name() : d.label) + ")";
  return name;
}

void memory_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src_stage, VkAccessFlags src_access,
                    VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
  auto b = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  b.srcAccessMask = src_access;
  b.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 1, &b, 0, nullptr, 0, nullptr);
}

std::vector<BufferAccess> accesses_of(const Dispatch& d) {
  std::vector<BufferAccess> out;
  for (const Binding& b : d.buffers) {
    const uint64_t id = uint64_t(reinterpret_cast<uintptr_t>(b.range.buffer));
    out.push_back({id, b.range.offset, b.range.size, b.access != Access::Read, false});
  }
  if (d.indirect) {
    const uint64_t id = uint64_t(reinterpret_cast<uintptr_t>(d.indirect->buffer));
    out.push_back({id, d.indirect->offset, sizeof(VkDispatchIndirectCommand), false, true});
  }
  return out;
}

std::vector<std::vector<BufferAccess>> accesses_of(const std::vector<Dispatch>& dispatches) {
  std::vector<std::vector<BufferAccess>> accesses;
  accesses.reserve(dispatches.size());
  for (const Dispatch& d : dispatches) accesses.push_back(accesses_of(d));
  return accesses;
}

}  // namespace

std::vector<BarrierPoint> plan_barriers(const std::vector<Dispatch>& dispatches) {
  return plan_barriers(accesses_of(dispatches));
}

std::vector<Dispatch> order_by_levels(std::vector<Dispatch> dispatches) {
  const std::vector<size_t> order = level_order(accesses_of(dispatches));
  std::vector<Dispatch> out;
  out.reserve(dispatches.size());
  for (size_t i : order) out.push_back(std::move(dispatches[i]));
  return out;
}

Recording::Recording(Device& device, std::vector<Dispatch> dispatches, RecordingOptions options)
    : device_(device), dispatches_(std::move(dispatches)), options_(options) {
  validate();
  try {
    allocate_descriptors();
    auto ai = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
    ai.commandPool = device.command_pool();
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(device.handle(), &ai, &cmd_), "vkAllocateCommandBuffers");
    if (options_.timestamps && device.caps().timestamp_valid_bits > 0) {
      auto qi = make<VkQueryPoolCreateInfo>(VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO);
      qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
      qi.queryCount = uint32_t(dispatches_.size() + 1);
      check(vkCreateQueryPool(device.handle(), &qi, nullptr, &queries_), "vkCreateQueryPool");
    }
    record();
  } catch (...) {
    destroy();
    throw;
  }
}

Recording::~Recording() {
  if (last_value_ != 0) {
    try {
      device_.wait(last_value_);
    } catch (const std::exception&) {
      // The device is lost or hung; freeing below is still the best we can do.
    }
  }
  destroy();
}

void Recording::destroy() noexcept {
  const VkDevice dev = device_.handle();
  if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
  if (cmd_) vkFreeCommandBuffers(dev, device_.command_pool(), 1, &cmd_);
  if (pool_) vkDestroyDescriptorPool(dev, pool_, nullptr);
  queries_ = VK_NULL_HANDLE;
  cmd_ = VK_NULL_HANDLE;
  pool_ = VK_NULL_HANDLE;
}

void Recording::validate() const {
  const Caps& caps = device_.caps();
  const uint64_t align = caps.min_storage_buffer_offset_alignment;
  for (size_t i = 0; i < dispatches_.size(); ++i) {
    const Dispatch& d = dispatches_[i];
    if (!d.kernel) throw Error(dispatch_name(d, i) + " has no kernel");
    const std::string who = dispatch_name(d, i);
    const KernelDesc& k = d.kernel->desc();
    if (d.buffers.size() != k.buffers)
      throw Error(who + ": binds " + std::to_string(d.buffers.size()) + " buffers, the kernel has " +
                  std::to_string(k.buffers));
    if (d.push.size() * 4 != k.push_constant_bytes)
      throw Error(who + ": " + std::to_string(d.push.size() * 4) + " bytes of push constants, the kernel takes " +
                  std::to_string(k.push_constant_bytes));
    for (size_t b = 0; b < d.buffers.size(); ++b) {
      const BufferRange& r = d.buffers[b].range;
      const std::string where = who + " binding " + std::to_string(b);
      if (r.buffer == VK_NULL_HANDLE || r.size == 0) throw Error(where + ": empty buffer range");
      if (r.size > caps.max_storage_buffer_range)
        throw Error(where + ": range of " + format_bytes(r.size) + " exceeds maxStorageBufferRange (" +
                    format_bytes(caps.max_storage_buffer_range) + "); bind it in slices (Buffer::slices)");
      if (align && r.offset % align != 0)
        throw Error(where + ": offset " + std::to_string(r.offset) +
                    " is not a multiple of minStorageBufferOffsetAlignment (" + std::to_string(align) + ")");
    }
    if (d.indirect) {
      if (d.indirect->offset % 4 != 0 || d.indirect->size < sizeof(VkDispatchIndirectCommand))
        throw Error(who + ": indirect arguments need 12 bytes at a 4-byte aligned offset");
    } else {
      for (int a = 0; a < 3; ++a)
        if (d.groups[a] == 0 || d.groups[a] > caps.max_workgroup_count[a])
          throw Error(who + ": group count " + std::to_string(d.groups[a]) + " out of [1, " +
                      std::to_string(caps.max_workgroup_count[a]) + "]");
    }
  }
}

void Recording::allocate_descriptors() {
  uint32_t descriptors = 0;
  for (const Dispatch& d : dispatches_) descriptors += uint32_t(d.buffers.size());
  if (dispatches_.empty()) return;
  const VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, std::max(descriptors, 1u)};
  auto pci = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
  pci.maxSets = uint32_t(dispatches_.size());
  pci.poolSizeCount = 1;
  pci.pPoolSizes = &size;
  check(vkCreateDescriptorPool(device_.handle(), &pci, nullptr, &pool_), "vkCreateDescriptorPool");

  std::vector<VkDescriptorSetLayout> layouts;
  for (const Dispatch& d : dispatches_) layouts.push_back(d.kernel->set_layout());
  sets_.resize(dispatches_.size());
  auto ai = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  ai.descriptorPool = pool_;
  ai.descriptorSetCount = uint32_t(layouts.size());
  ai.pSetLayouts = layouts.data();
  check(vkAllocateDescriptorSets(device_.handle(), &ai, sets_.data()), "vkAllocateDescriptorSets");

  std::vector<VkDescriptorBufferInfo> infos;
  infos.reserve(descriptors);
  std::vector<VkWriteDescriptorSet> writes;
  for (size_t i = 0; i < dispatches_.size(); ++i)
    for (size_t b = 0; b < dispatches_[i].buffers.size(); ++b) {
      const BufferRange& r = dispatches_[i].buffers[b].range;
      infos.push_back({r.buffer, r.offset, r.size});
      auto w = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
      w.dstSet = sets_[i];
      w.dstBinding = uint32_t(b);
      w.descriptorCount = 1;
      w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w.pBufferInfo = &infos.back();
      writes.push_back(w);
    }
  if (!writes.empty()) vkUpdateDescriptorSets(device_.handle(), uint32_t(writes.size()), writes.data(), 0, nullptr);
}

void Recording::record() {
  bool any_indirect = false;
  for (const Dispatch& d : dispatches_) any_indirect = any_indirect || d.indirect.has_value();
  const std::vector<BarrierPoint> plan = plan_barriers(dispatches_);

  auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  check(vkBeginCommandBuffer(cmd_, &bi), "vkBeginCommandBuffer");
  const VkPipelineStageFlags compute = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  const VkAccessFlags shader_rw = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  const VkPipelineStageFlags indirect_stage = any_indirect ? VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT : 0;
  const VkAccessFlags indirect_access = any_indirect ? VK_ACCESS_INDIRECT_COMMAND_READ_BIT : 0;
  if (queries_) {
    vkCmdResetQueryPool(cmd_, queries_, 0, uint32_t(dispatches_.size() + 1));
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
  }
  // Uploads and the previous submission (this recording resubmitted, or another) come first.
  memory_barrier(cmd_, VK_PIPELINE_STAGE_TRANSFER_BIT | compute,
                 VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT, compute | indirect_stage,
                 shader_rw | indirect_access);
  VkPipeline bound = VK_NULL_HANDLE;
  barriers_ = 0;
  for (size_t i = 0; i < dispatches_.size(); ++i) {
    const Dispatch& d = dispatches_[i];
    if (plan[i].needed) {
      memory_barrier(cmd_, compute, VK_ACCESS_SHADER_WRITE_BIT, compute | (plan[i].indirect ? indirect_stage : 0),
                     shader_rw | (plan[i].indirect ? indirect_access : 0));
      ++barriers_;
    }
    if (d.kernel->pipeline() != bound) {
      vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, d.kernel->pipeline());
      bound = d.kernel->pipeline();
    }
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, d.kernel->layout(), 0, 1, &sets_[i], 0, nullptr);
    if (!d.push.empty())
      vkCmdPushConstants(cmd_, d.kernel->layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                         uint32_t(d.push.size() * 4), d.push.data());
    if (d.indirect) vkCmdDispatchIndirect(cmd_, d.indirect->buffer, d.indirect->offset);
    else vkCmdDispatch(cmd_, d.groups[0], d.groups[1], d.groups[2]);
    if (queries_) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, queries_, uint32_t(i + 1));
  }
  // Downloads (transfers) and host reads of the results come after.
  memory_barrier(cmd_, compute, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                 VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                 VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT);
  check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
}

uint64_t Recording::submit() {
  if (last_value_ != 0) device_.wait(last_value_);  // the command buffer may not be pending twice
  last_value_ = device_.submit(cmd_);
  return last_value_;
}

void Recording::wait() {
  if (last_value_ != 0) device_.wait(last_value_);
}

std::vector<double> Recording::dispatch_times_ns() const {
  if (!queries_ || last_value_ == 0 || device_.completed_value() < last_value_) return {};
  const uint32_t n = uint32_t(dispatches_.size() + 1);
  std::vector<uint64_t> ticks(n);
  check(vkGetQueryPoolResults(device_.handle(), queries_, 0, n, n * sizeof(uint64_t), ticks.data(),
                              sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
        "vkGetQueryPoolResults");
  const uint32_t bits = device_.caps().timestamp_valid_bits;
  const uint64_t mask = bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1;
  std::vector<double> out;
  for (uint32_t i = 1; i < n; ++i)
    out.push_back(double((ticks[i] - ticks[i - 1]) & mask) * device_.caps().timestamp_period_ns);
  return out;
}

}  // namespace dsv4::vk
