// How dsv4 reports a failure: one line "dsv4: error: ..." on stderr and a non-zero exit status.
// Exit statuses: 1 any error (bad input, missing file, out of memory, ...), 3 a GPU device fault
// (device lost, or a step that missed the watchdog); bad command-line usage exits with CLI11's own
// codes (>= 100).
#pragma once
#include <exception>

namespace dsv4::cli {

constexpr int kExitError = 1;
constexpr int kExitDeviceFault = 3;

// True for vk::DeviceLost and vk::Timeout: nothing more can run on that device in this process.
bool is_device_fault(const std::exception& e);

// Prints the one error line for `e` (stdout flushed first so the line comes after any output);
// returns the exit status for it.
int report_error(const std::exception& e);

// Thrown by a command that has already reported its failure (and said what to do next); main
// exits with `status` without printing anything more.
struct AlreadyReported {
  int status;
};

}  // namespace dsv4::cli
