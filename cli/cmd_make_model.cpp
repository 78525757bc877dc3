// dsv4 make-model: writes a synthetic model in the released format (weights/synthetic_model.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "weights/synthetic_model.h"

namespace dsv4::cli {

namespace {

struct MakeModelArgs {
  dsv4::SyntheticOptions options;
  std::string experts = "fp4";
  std::string out;
  bool force = false;
};

// A bar redrawn in place on a terminal; plain lines every 10% otherwise, so CI logs stay short.
class ProgressBar {
 public:
  ProgressBar() : tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}
  void operator()(uint64_t done, uint64_t total) {
    const int pct = total ? int(done * 100 / total) : 100;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (tty_) {
      if (pct == last_ && done != total && secs - last_draw_ < 0.2) return;
      last_draw_ = secs;
      const int filled = pct * 30 / 100;
      std::fprintf(stderr, "\r[%.*s%*s] %3d%%  %.2f / %.2f GB  %.1f s", filled, "##############################",
                   30 - filled, "", pct, double(done) / 1e9, double(total) / 1e9, secs);
      if (done == total) std::fprintf(stderr, "\n");
    } else if (pct / 10 != last_ / 10 || (done == total && last_ != 100)) {
      std::fprintf(stderr, "make-model: %3d%%  %.2f / %.2f GB  %.1f s\n", pct, double(done) / 1e9, double(total) / 1e9,
                   secs);
    }
    last_ = pct;
  }

 private:
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  int last_ = -1;
  double last_draw_ = -1;
};

void run(const MakeModelArgs& a) {
  dsv4::SyntheticOptions o = a.options;
  o.experts = a.experts == "fp8" ? dsv4::ExpertDtype::FP8 : dsv4::ExpertDtype::FP4;
  auto bar = std::make_shared<ProgressBar>();
  const auto t0 = std::chrono::steady_clock::now();
  dsv4::write_synthetic_model(o, a.out, a.force, [bar](uint64_t d, uint64_t t) { (*bar)(d, t); });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const dsv4::ModelConfig c = dsv4::synthetic_config(o);
  std::printf("wrote %s: preset %s, %lld layers + %lld MTP, %s experts, seed %llu (%.1f s)\n", a.out.c_str(),
              o.preset.c_str(), static_cast<long long>(c.n_layers), static_cast<long long>(c.n_mtp_layers),
              a.experts.c_str(), static_cast<unsigned long long>(o.seed), secs);
}

}  // namespace

void add_make_model_command(CLI::App& app) {
  auto args = std::make_shared<MakeModelArgs>();
  auto* cmd = app.add_subcommand("make-model", "Write a synthetic DeepSeek-V4 model in the released format");
  cmd->add_option("--preset", args->options.preset, "tiny | small | demo | flash | pro")
      ->required()
      ->check(CLI::IsMember({"tiny", "small", "demo", "flash", "pro"}));
  cmd->add_option("--layers", args->options.layers, "main layers (default: the preset's; flash 43, pro 61)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->options.seed, "random seed (same seed, same bytes)");
  cmd->add_option("--out", args->out, "output directory (created; must be empty)")->required();
  cmd->add_option("--experts", args->experts, "fp4 (instruct) or fp8 (Base: FP8 experts, F32 scales)")
      ->check(CLI::IsMember({"fp4", "fp8"}));
  cmd->add_option("--tokenizer", args->options.tokenizer, "tokenizer.json (or its directory) to copy in");
  cmd->add_flag("--force", args->force, "write into a non-empty directory");
  cmd->callback([args] { run(*args); });
}

}  // namespace dsv4::cli
