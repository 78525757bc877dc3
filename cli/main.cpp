// dsv4: DeepSeek-V4 inference on any Vulkan GPU.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/errors.h"

int main(int argc, char** argv) {
  CLI::App app{"dsv4: run DeepSeek-V4 models (V4-Flash, V4-Pro and smaller models of the same\n"
               "architecture) on any GPU through Vulkan compute.",
               "dsv4"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dsv4 0.1.0");
  dsv4::cli::add_run_command(app);
  dsv4::cli::add_chat_command(app);
  dsv4::cli::add_batch_command(app);
  dsv4::cli::add_devices_command(app);
  dsv4::cli::add_info_command(app);
  dsv4::cli::add_make_model_command(app);
  dsv4::cli::add_tokenize_command(app);
  dsv4::cli::add_eval_command(app);
  dsv4::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dsv4::cli::AlreadyReported& r) {
    return r.status;
  } catch (const std::exception& e) {
    // Every failure is one line naming what went wrong; never a crash or a stack trace.
    return dsv4::cli::report_error(e);
  }
  return 0;
}
