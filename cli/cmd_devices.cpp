// dsv4 devices [--json]: every Vulkan device with the capabilities dsv4 probed.
//
// JSON output (--json), one object:
//   {"devices": [{
//     "index": 0, "name": "...", "type": "discrete|integrated|virtual|cpu|other",
//     "default": true,              // the device dsv4 picks (with --device: the one it selects)
//     "usable": true, "unusable_reason": "",   // usable = Vulkan >= 1.2 + compute queue + timelines
//     "vendor_id": 4318, "device_id": 8960, "api_version": "1.3.230",
//     "driver_version": 2290089984, "driver_name": "...", "driver_info": "...",
//     "pipeline_cache_uuid": "32 hex digits",
//     "types": {"fp16", "int8", "int16", "int64", "bf16", "float8": bool},
//     "storage": {"8bit", "16bit", "push_constant_8bit", "push_constant_16bit": bool},
//     "subgroup": {"size", "min_size", "max_size": n, "size_control": bool, "operations": ["basic", ...]},
//     "cooperative_matrix": {"khr": bool, "nv": bool, "nv2": bool,
//        "khr_shapes" / "nv_shapes" / "nv2_shapes": [{"m", "n", "k", "a", "b", "c", "result",
//        "saturating_accumulation", "scope", "workgroup_invocations"}]},   // nv2: m/n/k = granularity
//     "integer_dot_product": {"supported": bool, "4x8_packed_accelerated": bool},
//     "float_controls": {"denorm_preserve_fp32", "denorm_flush_fp32", "denorm_preserve_fp16": bool},
//     "limits": {"max_storage_buffer_range", "max_memory_allocation_size", "max_buffer_size",
//        "min_storage_buffer_offset_alignment", "max_push_constants_size",
//        "max_compute_shared_memory", "max_workgroup_invocations": n,
//        "max_workgroup_size": [x, y, z], "max_workgroup_count": [x, y, z]},
//     "memory": {"budget_extension": bool, "heaps": [{"size", "budget", "usage": bytes, "device_local": bool}]},
//     "queue": {"compute_family": n, "timestamp_valid_bits": n, "timestamp_period_ns": x,
//        "timeline_semaphore": bool},
//     "pipeline_creation_feedback": bool, "pipeline_statistics": bool, "buffer_device_address": bool}]}
// Sizes are bytes. An empty "devices" list means no Vulkan driver reported a device.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "vk/device_select.h"
#include "vk/error.h"
#include "vk/instance.h"
#include "vk/memory.h"

namespace dsv4::cli {

namespace {

using json = nlohmann::ordered_json;  // keys in the documented order

std::string hex_bytes(const std::array<uint8_t, VK_UUID_SIZE>& bytes) {
  std::string out;
  char buf[3];
  for (uint8_t b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

json shapes_json(const std::vector<vk::CoopMatShape>& shapes) {
  json out = json::array();
  for (const auto& s : shapes)
    out.push_back({{"m", s.m}, {"n", s.n}, {"k", s.k}, {"a", s.a_type}, {"b", s.b_type}, {"c", s.c_type},
                   {"result", s.result_type}, {"saturating_accumulation", s.saturating_accumulation},
                   {"scope", s.scope}, {"workgroup_invocations", s.workgroup_invocations}});
  return out;
}

json device_json(const vk::Caps& c, bool is_default) {
  json heaps = json::array();
  for (const auto& h : c.heaps)
    heaps.push_back({{"size", h.size}, {"budget", h.budget}, {"usage", h.usage}, {"device_local", h.device_local}});
  return {
      {"index", c.index},
      {"name", c.name},
      {"type", c.type},
      {"default", is_default},
      {"usable", c.usable()},
      {"unusable_reason", c.why_unusable()},
      {"vendor_id", c.vendor_id},
      {"device_id", c.device_id},
      {"api_version", vk::version_string(c.api_version)},
      {"driver_version", c.driver_version},
      {"driver_name", c.driver_name},
      {"driver_info", c.driver_info},
      {"pipeline_cache_uuid", hex_bytes(c.pipeline_cache_uuid)},
      {"types", {{"fp16", c.fp16}, {"int8", c.int8}, {"int16", c.int16}, {"int64", c.int64}, {"bf16", c.bf16},
                 {"float8", c.float8}}},
      {"storage", {{"8bit", c.storage_8bit}, {"16bit", c.storage_16bit},
                   {"push_constant_8bit", c.push_constant_8bit}, {"push_constant_16bit", c.push_constant_16bit}}},
      {"subgroup", {{"size", c.subgroup_size}, {"min_size", c.min_subgroup_size}, {"max_size", c.max_subgroup_size},
                    {"size_control", c.subgroup_size_control}, {"operations", c.subgroup_operations}}},
      {"cooperative_matrix", {{"khr", c.coopmat_khr}, {"nv", c.coopmat_nv}, {"nv2", c.coopmat2_nv},
                              {"khr_shapes", shapes_json(c.coopmat_khr_shapes)},
                              {"nv_shapes", shapes_json(c.coopmat_nv_shapes)},
                              {"nv2_shapes", shapes_json(c.coopmat2_nv_shapes)}}},
      {"integer_dot_product", {{"supported", c.integer_dot_product},
                               {"4x8_packed_accelerated", c.integer_dot_4x8_packed_accelerated}}},
      {"float_controls", {{"denorm_preserve_fp32", c.denorm_preserve_fp32},
                          {"denorm_flush_fp32", c.denorm_flush_fp32},
                          {"denorm_preserve_fp16", c.denorm_preserve_fp16}}},
      {"limits", {{"max_storage_buffer_range", c.max_storage_buffer_range},
                  {"max_memory_allocation_size", c.max_memory_allocation_size},
                  {"max_buffer_size", c.max_buffer_size},
                  {"min_storage_buffer_offset_alignment", c.min_storage_buffer_offset_alignment},
                  {"max_push_constants_size", c.max_push_constants_size},
                  {"max_compute_shared_memory", c.max_compute_shared_memory},
                  {"max_workgroup_invocations", c.max_workgroup_invocations},
                  {"max_workgroup_size", c.max_workgroup_size},
                  {"max_workgroup_count", c.max_workgroup_count}}},
      {"memory", {{"budget_extension", c.memory_budget}, {"heaps", heaps}}},
      {"queue", {{"compute_family", c.compute_queue_family == UINT32_MAX ? json(nullptr) : json(c.compute_queue_family)},
                 {"timestamp_valid_bits", c.timestamp_valid_bits},
                 {"timestamp_period_ns", c.timestamp_period_ns},
                 {"timeline_semaphore", c.timeline_semaphore}}},
      {"pipeline_creation_feedback", c.pipeline_creation_feedback},
      {"pipeline_statistics", c.pipeline_statistics},
      {"buffer_device_address", c.buffer_device_address},
  };
}

const char* yes(bool b) { return b ? "yes" : "no"; }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out.empty() ? "none" : out;
}

std::string shapes_text(const std::vector<vk::CoopMatShape>& shapes) {
  std::string out;
  for (const auto& s : shapes) {
    if (!out.empty()) out += ", ";
    out += std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + " " + s.a_type + "*" +
           s.b_type + "+" + s.c_type + "->" + s.result_type;
    if (s.workgroup_invocations) out += " (" + std::to_string(s.workgroup_invocations) + " inv)";
  }
  return out;
}

void print_device(std::ostream& o, const vk::Caps& c, bool is_default) {
  o << (is_default ? "* " : "  ") << c.index << ": " << c.name << "\n";
  o << "      type: " << c.type << ", Vulkan " << vk::version_string(c.api_version) << ", driver " << c.driver_name
    << (c.driver_info.empty() ? "" : " (" + c.driver_info + ")") << "\n";
  if (!c.usable()) {
    o << "      cannot run dsv4: " << c.why_unusable() << "\n";
    return;
  }
  o << "      shader types: fp16 " << yes(c.fp16) << ", int8 " << yes(c.int8) << ", int16 " << yes(c.int16)
    << ", int64 " << yes(c.int64) << ", bf16 " << yes(c.bf16) << ", float8 " << yes(c.float8) << "\n";
  o << "      storage: 8-bit " << yes(c.storage_8bit) << ", 16-bit " << yes(c.storage_16bit)
    << "; denormals preserved: fp32 " << yes(c.denorm_preserve_fp32) << ", fp16 " << yes(c.denorm_preserve_fp16) << "\n";
  o << "      subgroups: size " << c.subgroup_size << " (" << c.min_subgroup_size << ".." << c.max_subgroup_size
    << "), size control " << yes(c.subgroup_size_control) << ", ops: " << join(c.subgroup_operations) << "\n";
  o << "      integer dot product: " << yes(c.integer_dot_product) << " (4x8 packed accelerated "
    << yes(c.integer_dot_4x8_packed_accelerated) << ")\n";
  o << "      cooperative matrix KHR: " << (c.coopmat_khr ? shapes_text(c.coopmat_khr_shapes) : "no") << "\n";
  o << "      cooperative matrix NV: " << (c.coopmat_nv ? shapes_text(c.coopmat_nv_shapes) : "no") << "\n";
  o << "      cooperative matrix 2 NV: " << (c.coopmat2_nv ? shapes_text(c.coopmat2_nv_shapes) : "no") << "\n";
  o << "      limits: storage-buffer range " << vk::format_bytes(c.max_storage_buffer_range) << ", allocation "
    << vk::format_bytes(c.max_memory_allocation_size) << ", buffer " << vk::format_bytes(c.max_buffer_size)
    << ", push constants " << c.max_push_constants_size << " B, shared memory "
    << vk::format_bytes(c.max_compute_shared_memory) << "\n";
  for (size_t i = 0; i < c.heaps.size(); ++i) {
    const auto& h = c.heaps[i];
    o << "      heap " << i << ": " << vk::format_bytes(h.size) << (h.device_local ? " device-local" : " host");
    if (c.memory_budget) o << ", budget " << vk::format_bytes(h.budget) << ", in use " << vk::format_bytes(h.usage);
    o << "\n";
  }
  o << "      timestamps: " << (c.timestamp_valid_bits ? std::to_string(c.timestamp_valid_bits) + " bits, " : "none, ")
    << c.timestamp_period_ns << " ns/tick; pipeline feedback " << yes(c.pipeline_creation_feedback)
    << ", kernel statistics " << yes(c.pipeline_statistics) << "\n";
}

struct DevicesArgs {
  bool json = false;
  std::string device;
};

void run_devices(const DevicesArgs& args) {
  vk::Instance instance;
  std::vector<vk::Caps> caps;
  for (const auto& d : instance.devices()) caps.push_back(d.caps);
  size_t chosen = caps.size();
  if (!args.device.empty()) {
    chosen = vk::select_device(caps, args.device);  // an explicit choice that fails is an error
  } else {
    try {
      chosen = vk::select_device(caps, vk::device_selector(""));
    } catch (const vk::Error&) {
      // Listing still works when no device (or not the one DSV4_DEVICE names) is usable.
    }
  }
  const bool as_json = args.json;
  if (as_json) {
    json devices = json::array();
    for (size_t i = 0; i < caps.size(); ++i) devices.push_back(device_json(caps[i], i == chosen));
    std::cout << json{{"devices", devices}}.dump(2) << "\n";
    return;
  }
  if (caps.empty())
    throw vk::Error("no Vulkan device found (is a Vulkan driver installed? for a CPU device: "
                    "apt install mesa-vulkan-drivers)");
  std::ostringstream o;
  o << "Vulkan devices (* = " << (args.device.empty() ? "used by default" : "selected by --device")
    << "; choose with --device N|name or DSV4_DEVICE):\n";
  for (size_t i = 0; i < caps.size(); ++i) print_device(o, caps[i], i == chosen);
  std::cout << o.str();
}

}  // namespace

void add_devices_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List every Vulkan device with its probed capabilities");
  auto args = std::make_shared<DevicesArgs>();  // outlives parsing (CLI11 binds by reference)
  cmd->add_flag("--json", args->json, "Machine-readable JSON (schema in cli/cmd_devices.cpp)");
  cmd->add_option("--device", args->device,
                  "Mark the device this selector picks (index or case-insensitive name substring); "
                  "default: $DSV4_DEVICE, else discrete > integrated > virtual > cpu");
  cmd->callback([args] { run_devices(*args); });
}

}  // namespace dsv4::cli
