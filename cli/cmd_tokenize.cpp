#include <stdexcept>

#include "cli/commands.h"

namespace dsv4::cli {

// Placeholder until its issue lands; replaced by the real command.
void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "(not implemented yet)");
  cmd->callback([] { throw std::runtime_error("'tokenize' is not implemented yet"); });
}

}  // namespace dsv4::cli
