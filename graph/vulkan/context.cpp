#include "graph/vulkan/context.h"

namespace dsv4::gpu {

namespace {

std::string key_of(const vk::KernelDesc& d) {
  std::string k = d.shader;
  for (uint32_t v : {d.buffers, d.push_constant_bytes, d.required_subgroup_size}) k.append("|").append(std::to_string(v));
  for (const vk::SpecConstant& s : d.spec) k.append("|").append(std::to_string(s.id)).append("=").append(std::to_string(s.value));
  return k;
}

}  // namespace

const vk::Kernel& KernelCache::get(const vk::KernelDesc& desc) {
  const std::string key = key_of(desc);
  auto it = kernels_.find(key);
  if (it == kernels_.end()) it = kernels_.emplace(key, std::make_unique<vk::Kernel>(device_, desc, pipelines_)).first;
  return *it->second;
}

std::vector<std::pair<std::string, const vk::Kernel*>> KernelCache::list() const {
  std::vector<std::pair<std::string, const vk::Kernel*>> out;
  for (const auto& [key, kernel] : kernels_) out.emplace_back(key, kernel.get());
  return out;
}

}  // namespace dsv4::gpu
