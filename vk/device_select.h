// Choosing a Vulkan device: `--device N|name` or DSV4_DEVICE, else the best kind available.
// Pure functions over Caps so they are testable without a GPU.
#pragma once
#include <span>
#include <string>
#include <string_view>

#include "vk/caps.h"

namespace dsv4::vk {

// The selector in force: the command-line value when given, else $DSV4_DEVICE, else "".
std::string device_selector(std::string_view cli_value);

// Index into `devices` chosen by `selector`:
//   ""          the first usable device of the best kind: discrete > integrated > virtual > cpu > other
//   "N"         (all digits) the device with Caps::index N
//   otherwise   the first device whose name contains the selector, ignoring case
// Throws vk::Error listing every available device when nothing matches, or the match is unusable.
size_t select_device(std::span<const Caps> devices, std::string_view selector);

// "0: NVIDIA H100 (discrete), 1: llvmpipe (cpu)" for error messages.
std::string describe_devices(std::span<const Caps> devices);

}  // namespace dsv4::vk
