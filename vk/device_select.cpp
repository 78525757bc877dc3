#include "vk/device_select.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "vk/error.h"

namespace dsv4::vk {

namespace {

int kind_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() < 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

size_t checked_usable(std::span<const Caps> devices, size_t i, std::string_view selector) {
  if (!devices[i].usable())
    throw Error("device '" + std::string(selector) + "' (" + devices[i].name +
                ") cannot run dsv4: " + devices[i].why_unusable());
  return i;
}

}  // namespace

std::string device_selector(std::string_view cli_value) {
  if (!cli_value.empty()) return std::string(cli_value);
  const char* env = std::getenv("DSV4_DEVICE");
  return env ? std::string(env) : std::string();
}

std::string describe_devices(std::span<const Caps> devices) {
  if (devices.empty()) return "(none)";
  std::string out;
  for (const Caps& d : devices) {
    if (!out.empty()) out += ", ";
    out += std::to_string(d.index) + ": " + d.name + " (" + d.type + ")";
  }
  return out;
}

size_t select_device(std::span<const Caps> devices, std::string_view selector) {
  if (devices.empty())
    throw Error("no Vulkan device found (is a Vulkan driver installed? for a CPU device: "
                "apt install mesa-vulkan-drivers)");
  if (selector.empty()) {
    size_t best = devices.size();
    for (size_t i = 0; i < devices.size(); ++i)
      if (devices[i].usable() &&
          (best == devices.size() || kind_rank(devices[i].vk_type) < kind_rank(devices[best].vk_type)))
        best = i;
    if (best == devices.size())
      throw Error("no usable Vulkan device (need Vulkan 1.2 with compute and timeline semaphores); "
                  "available: " + describe_devices(devices));
    return best;
  }
  if (all_digits(selector)) {
    const unsigned long index = std::stoul(std::string(selector));
    for (size_t i = 0; i < devices.size(); ++i)
      if (devices[i].index == index) return checked_usable(devices, i, selector);
    throw Error("no Vulkan device with index " + std::string(selector) +
                "; available: " + describe_devices(devices));
  }
  const std::string needle = lower(selector);
  for (size_t i = 0; i < devices.size(); ++i)
    if (lower(devices[i].name).find(needle) != std::string::npos)
      return checked_usable(devices, i, selector);
  throw Error("no Vulkan device matches '" + std::string(selector) +
              "'; available: " + describe_devices(devices));
}

}  // namespace dsv4::vk
