#include "cli/errors.h"

#include <cstdio>
#include <string>

#include "vk/error.h"

namespace dsv4::cli {

bool is_device_fault(const std::exception& e) {
  return dynamic_cast<const vk::DeviceLost*>(&e) || dynamic_cast<const vk::Timeout*>(&e);
}

int report_error(const std::exception& e) {
  std::fflush(stdout);
  if (dynamic_cast<const vk::DeviceLost*>(&e)) {
    std::fprintf(stderr, "dsv4: error: GPU device lost (%s)\n", e.what());
    return kExitDeviceFault;
  }
  // The watchdog's message already reads "GPU step did not finish within N ms (...); the device may
  // be hung".
  std::fprintf(stderr, "dsv4: error: %s\n", e.what());
  return is_device_fault(e) ? kExitDeviceFault : kExitError;
}

}  // namespace dsv4::cli
