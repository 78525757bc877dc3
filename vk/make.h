// Zero-initialised Vulkan structs with their sType set: `auto ci = make<VkBufferCreateInfo>(...)`.
#pragma once
#include <vulkan/vulkan.h>

namespace dsv4::vk {

template <typename T>
T make(VkStructureType stype, void* next = nullptr) {
  T t{};
  t.sType = stype;
  t.pNext = next;
  return t;
}

}  // namespace dsv4::vk
