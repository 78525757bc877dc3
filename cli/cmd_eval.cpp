// dsv4 eval: feeds tokens[0:P] as one prefill (in chunks of C if given), then every remaining
// token as one decode step, and dumps the logits: row j = logits at position P-1+j. This exact
// interface is what outside conformance checks call; keep it stable.
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/runtime.h"
#include "graph/model_weights.h"
#include "graph/npy.h"
#include "graph/session.h"

namespace dsv4::cli {

namespace {

struct EvalArgs {
  std::string model, tokens, tokens_file, dump_logits, backend = "cpu", device;
  int64_t prefill = 0, chunk = 0;
};

// "1,2, 3" or whitespace/newline separated ids; anything else is a one-line error.
std::vector<int64_t> parse_tokens(const std::string& text, const std::string& where) {
  std::vector<int64_t> ids;
  std::string item;
  std::string normalised = text;
  for (char& ch : normalised)
    if (ch == ',' || ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  std::istringstream in(normalised);
  while (in >> item) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 0) throw std::invalid_argument(where + ": '" + item + "' is not a token id");
    ids.push_back(v);
  }
  return ids;
}

std::vector<int64_t> read_tokens(const EvalArgs& a) {
  if (!a.tokens.empty() && !a.tokens_file.empty()) throw std::invalid_argument("give --tokens or --tokens-file, not both");
  if (!a.tokens_file.empty()) {
    std::ifstream f(a.tokens_file);
    if (!f) throw std::runtime_error("cannot read --tokens-file " + a.tokens_file);
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_tokens(ss.str(), a.tokens_file);
  }
  return parse_tokens(a.tokens, "--tokens");
}

// The same feeding on the Vulkan executor: prefill chunks as steps, then one decode step per token.
graph::NpyArray eval_vulkan(const EvalArgs& a, const std::vector<int64_t>& tokens) {
  RuntimeArgs ra;
  ra.model = a.model;
  ra.device = a.device;
  ra.ctx = int64_t(tokens.size());
  ra.chunk = uint32_t(a.chunk > 0 ? a.chunk : a.prefill);
  ra.quiet = true;
  std::unique_ptr<Runtime> rt = open_runtime(ra, false);
  graph::NpyArray out;
  out.rows = int64_t(tokens.size()) - a.prefill + 1;
  out.cols = rt->cfg.vocab_size;
  auto feed = [&](int64_t from, int64_t n) {
    std::vector<gpu::StepRow> rows;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = tokens[size_t(from + i)];
      if (t >= rt->cfg.vocab_size)
        throw std::invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                                    std::to_string(rt->cfg.vocab_size) + ")");
      rows.push_back({int32_t(t), int32_t(from + i), 0, 0});
    }
    rt->executor->step(rows, false);
  };
  for (int64_t i = 0; i < a.prefill; i += ra.chunk) feed(i, std::min<int64_t>(ra.chunk, a.prefill - i));
  auto keep = [&] {
    const std::vector<float> l = rt->executor->logits(0);
    out.data.insert(out.data.end(), l.begin(), l.end());
  };
  keep();
  for (int64_t i = a.prefill; i < int64_t(tokens.size()); ++i) {
    feed(i, 1);
    keep();
  }
  return out;
}

void run_eval(const EvalArgs& a) {
  const std::vector<int64_t> tokens = read_tokens(a);
  const int64_t total = int64_t(tokens.size());
  if (total == 0) throw std::invalid_argument("no tokens given (--tokens or --tokens-file)");
  if (a.prefill < 1 || a.prefill > total) {
    throw std::invalid_argument("--prefill " + std::to_string(a.prefill) + " must be in [1, " + std::to_string(total) +
                                "] (the number of tokens)");
  }
  if (a.chunk < 0) throw std::invalid_argument("--chunk must be positive");
  if (a.backend == "vulkan") return graph::write_npy(a.dump_logits, eval_vulkan(a, tokens));
  auto weights = std::make_shared<const graph::ModelWeights>(graph::load_model_weights(a.model));
  graph::Session session(weights, {.max_context = 0, .prefill_chunk = a.chunk});
  graph::NpyArray out;
  out.rows = total - a.prefill + 1;
  out.cols = weights->cfg.vocab_size;
  out.data.reserve(size_t(out.rows * out.cols));
  auto keep = [&](const std::vector<float>& logits) { out.data.insert(out.data.end(), logits.begin(), logits.end()); };
  keep(session.prefill(std::span<const int64_t>(tokens.data(), size_t(a.prefill))));
  for (int64_t i = a.prefill; i < total; ++i) keep(session.decode(tokens[size_t(i)]));
  graph::write_npy(a.dump_logits, out);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Run a token sequence through the model and dump the logits (NPY, float32)");
  cmd->add_option("--model", args->model, "Model directory (config.json + safetensors)")->required();
  cmd->add_option("--tokens", args->tokens, "Comma-separated token ids");
  cmd->add_option("--tokens-file", args->tokens_file, "File of token ids (comma or whitespace separated)");
  cmd->add_option("--prefill", args->prefill, "P: tokens[0:P] go through one prefill call")->required();
  cmd->add_option("--dump-logits", args->dump_logits, "Output .npy: T-P+1 rows, row j = logits at position P-1+j")
      ->required();
  cmd->add_option("--backend", args->backend, "cpu (reference) or vulkan")
      ->check(CLI::IsMember({"cpu", "vulkan"}));
  cmd->add_option("--chunk", args->chunk, "Prefill chunk length C (default: one chunk)");
  cmd->add_option("--device", args->device, "Vulkan device for --backend vulkan (index or name; env DSV4_DEVICE)");
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace dsv4::cli
