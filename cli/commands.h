// Each dsv4 subcommand lives in its own cli/cmd_*.cpp and registers itself on the root app.
// cli/ is thin: it parses flags, calls graph/ or weights/, and prints.
#pragma once
#include <CLI/CLI.hpp>

namespace dsv4::cli {

void add_devices_command(CLI::App& app);     // cmd_devices.cpp
void add_info_command(CLI::App& app);        // cmd_info.cpp
void add_make_model_command(CLI::App& app);  // cmd_make_model.cpp
void add_tokenize_command(CLI::App& app);    // cmd_tokenize.cpp (tokenize, encode-chat)
void add_eval_command(CLI::App& app);        // cmd_eval.cpp
void add_run_command(CLI::App& app);         // cmd_run.cpp
void add_chat_command(CLI::App& app);        // cmd_chat.cpp
void add_bench_command(CLI::App& app);       // cmd_bench.cpp
void add_batch_command(CLI::App& app);       // cmd_batch.cpp

}  // namespace dsv4::cli
