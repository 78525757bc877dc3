#include "graph/session.h"

#include <stdexcept>
#include <string>

namespace dsv4::graph {

Session::Session(std::shared_ptr<const ModelWeights> weights, SessionOptions options)
    : weights_(weights),
      options_(options),
      executor_(weights),
      decode_ops_(build_step(weights->cfg, StepKind::Decode)),
      prefill_ops_(build_step(weights->cfg, StepKind::Prefill)),
      state_(weights->cfg),
      mtp_state_(weights->cfg) {
  if (!weights->mtp.empty()) mtp_ops_ = build_mtp_step(weights->cfg, 0);
}

void Session::reset() {
  state_.reset();
  mtp_state_.reset();
  last_hidden_.clear();
}

std::vector<float> Session::run_chunk(std::span<const int64_t> tokens) {
  const ModelConfig& c = weights_->cfg;
  for (int64_t t : tokens) {
    if (t < 0 || t >= c.vocab_size) {
      throw std::invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                                  std::to_string(c.vocab_size) + ")");
    }
  }
  if (options_.max_context > 0 && state_.position + int64_t(tokens.size()) > options_.max_context) {
    throw std::invalid_argument("sequence of " + std::to_string(state_.position + int64_t(tokens.size())) +
                                " tokens exceeds the context limit " + std::to_string(options_.max_context));
  }
  StepParams step{state_.position, std::vector<int64_t>(tokens.begin(), tokens.end())};
  const OpList& ops = tokens.size() == 1 ? decode_ops_ : prefill_ops_;
  std::vector<float> logits = executor_.run(ops, step, state_, ws_);
  state_.position += int64_t(tokens.size());
  last_hidden_ = ws_.at("hc");
  return logits;
}

std::vector<float> Session::prefill(std::span<const int64_t> tokens) {
  if (tokens.empty()) throw std::invalid_argument("prefill needs at least one token");
  const size_t chunk = options_.prefill_chunk > 0 ? size_t(options_.prefill_chunk) : tokens.size();
  std::vector<float> logits;
  for (size_t i = 0; i < tokens.size(); i += chunk) logits = run_chunk(tokens.subspan(i, std::min(chunk, tokens.size() - i)));
  return logits;
}

std::vector<float> Session::mtp_draft(std::span<const int64_t> next_tokens) {
  const ModelConfig& c = weights_->cfg;
  if (mtp_ops_.ops.empty()) throw std::logic_error("mtp_draft: the weights were loaded without the MTP block");
  const int64_t n = int64_t(last_hidden_.size()) / (c.hc_mult * c.dim);
  if (n == 0 || int64_t(next_tokens.size()) != n || mtp_state_.position != state_.position - n) {
    throw std::invalid_argument("mtp_draft needs one next token per position of the last call, after every call");
  }
  for (int64_t t : next_tokens) {
    if (t < 0 || t >= c.vocab_size) throw std::invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary");
  }
  mtp_ws_.buffers["mtp_hidden"] = last_hidden_;
  const StepParams step{mtp_state_.position, std::vector<int64_t>(next_tokens.begin(), next_tokens.end())};
  std::vector<float> logits = executor_.run(mtp_ops_, step, mtp_state_, mtp_ws_);
  mtp_state_.position += n;
  return logits;
}

std::vector<float> Session::decode(int64_t token) { return run_chunk(std::span<const int64_t>(&token, 1)); }

}  // namespace dsv4::graph
