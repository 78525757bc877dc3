// What every kernel wrapper needs: the device, and one vk::Kernel per distinct KernelDesc (shader
// plus specialization constants), created on first use and shared by every dispatch that uses it.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "vk/device.h"
#include "vk/kernel.h"
#include "vk/pipeline_cache.h"

namespace dsv4::gpu {

class KernelCache {
 public:
  KernelCache(vk::Device& device, vk::PipelineCache* pipelines) : device_(device), pipelines_(pipelines) {}
  // The kernel for `desc`, created on first request. References stay valid for the cache's life.
  const vk::Kernel& get(const vk::KernelDesc& desc);
  size_t size() const { return kernels_.size(); }
  // Every kernel created so far, by key: the shader name, then its buffers, push-constant bytes,
  // subgroup size and specialization constants, '|'-separated.
  std::vector<std::pair<std::string, const vk::Kernel*>> list() const;

 private:
  vk::Device& device_;
  vk::PipelineCache* pipelines_;
  std::map<std::string, std::unique_ptr<vk::Kernel>> kernels_;
};

struct Context {
  Context(vk::Device& d, vk::PipelineCache* pipelines = nullptr) : device(d), kernels(d, pipelines) {}
  vk::Device& device;
  KernelCache kernels;
};

// Workgroups to cover `n` items with groups of `per_group`.
inline uint32_t groups_for(uint64_t n, uint64_t per_group) { return uint32_t((n + per_group - 1) / per_group); }

}  // namespace dsv4::gpu
