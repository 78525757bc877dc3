#include <stdexcept>

#include "cli/commands.h"

namespace dsv4::cli {

// Placeholder until its issue lands; replaced by the real command.
void add_make_model_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-model", "(not implemented yet)");
  cmd->callback([] { throw std::runtime_error("'make-model' is not implemented yet"); });
}

}  // namespace dsv4::cli
