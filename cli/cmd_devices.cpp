#include <stdexcept>

#include "cli/commands.h"

namespace dsv4::cli {

// Placeholder until its issue lands; replaced by the real command.
void add_devices_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "(not implemented yet)");
  cmd->callback([] { throw std::runtime_error("'devices' is not implemented yet"); });
}

}  // namespace dsv4::cli
