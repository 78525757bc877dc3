#include "graph/memory_plan.h"

#include <cstdio>
#include <map>
#include <stdexcept>

#include "weights/safetensors.h"

namespace dsv4::graph {

const char* buffer_kind_name(BufferKind k) {
  switch (k) {
    case BufferKind::Weights: return "weights";
    case BufferKind::Residual: return "residual";
    case BufferKind::Activation: return "activations";
    case BufferKind::WindowRing: return "window rings";
    case BufferKind::CompressedKv: return "compressed kv";
    case BufferKind::IndexKeys: return "index keys";
    case BufferKind::CompressorState: return "compressor states";
    case BufferKind::Logits: return "logits";
  }
  return "?";
}

uint64_t MemoryPlan::total() const {
  uint64_t t = 0;
  for (const auto& b : buffers) t += b.bytes;
  return t;
}

uint64_t MemoryPlan::total(BufferKind k) const {
  uint64_t t = 0;
  for (const auto& b : buffers)
    if (b.kind == k) t += b.bytes;
  return t;
}

uint64_t kv_entry_bytes(const ModelConfig& c) {
  const uint64_t nope = uint64_t(c.nope_head_dim());
  const uint64_t raw = nope + (nope + 63) / 64 + 2 * uint64_t(c.rope_head_dim);
  return (raw + 7) / 8 * 8;
}

uint64_t index_entry_bytes(const ModelConfig& c) {
  const uint64_t d = uint64_t(c.index_head_dim);
  return (d / 2 + (d + 31) / 32 + 3) / 4 * 4;  // 4-aligned: the GPU reads entries as words
}

namespace {

std::string block_name(const ModelConfig& c, int64_t block) {
  return block < c.n_layers ? "layers." + std::to_string(block) : "mtp." + std::to_string(block - c.n_layers);
}

void add_weights(MemoryPlan& p, const ModelConfig& c, const WeightFormats& f) {
  std::map<int64_t, uint64_t> per_block;  // -1 = top level
  for (const ExpectedTensor& t : model_inventory(c, f)) {
    if (t.block >= c.n_layers && !p.options.with_mtp) continue;
    uint64_t n = 1;
    for (int64_t d : t.shape) n *= uint64_t(d);
    per_block[t.block] += n * dtype_size(t.dtypes.front());
  }
  for (const auto& [block, bytes] : per_block) {
    p.buffers.push_back({block < 0 ? "top level (embed, head, norm, hc_head)" : block_name(c, block),
                         BufferKind::Weights, "as stored", bytes});
  }
}

void add_caches(MemoryPlan& p, const ModelConfig& c) {
  const uint64_t b = uint64_t(p.options.batch_size), ctx = uint64_t(p.options.max_context);
  const int64_t blocks = c.n_layers + (p.options.with_mtp ? c.n_mtp_layers : 0);
  const std::string entry = "fp8 kv entry " + std::to_string(p.kv_entry_bytes) + " B";
  for (int64_t i = 0; i < blocks; ++i) {
    const std::string n = block_name(c, i);
    const uint64_t r = uint64_t(c.ratio(i));
    p.buffers.push_back({n + ".window", BufferKind::WindowRing, entry, b * uint64_t(c.window_size) * p.kv_entry_bytes});
    if (r == 0) continue;
    const uint64_t coff = r == 4 ? 2 : 1;
    p.buffers.push_back({n + ".compressed", BufferKind::CompressedKv, entry, b * (ctx / r) * p.kv_entry_bytes});
    p.buffers.push_back({n + ".compressor_state", BufferKind::CompressorState, "fp32 kv + score",
                         b * 2 * coff * r * coff * uint64_t(c.head_dim) * 4});
    if (r != 4) continue;
    p.buffers.push_back({n + ".index_keys", BufferKind::IndexKeys,
                         "fp4 index key " + std::to_string(p.index_entry_bytes) + " B",
                         b * (ctx / 4) * p.index_entry_bytes});
    p.buffers.push_back({n + ".index_state", BufferKind::CompressorState, "fp32 kv + score",
                         b * 2 * 8 * 2 * uint64_t(c.index_head_dim) * 4});
  }
}

// Activations of the largest step (a prefill chunk for every sequence); reused by every layer.
void add_activations(MemoryPlan& p, const ModelConfig& c) {
  const uint64_t t = uint64_t(p.options.batch_size) * uint64_t(std::min(p.options.prefill_chunk, p.options.max_context));
  const uint64_t d = uint64_t(c.dim), hc = uint64_t(c.hc_mult), heads = uint64_t(c.n_heads);
  const uint64_t hd = uint64_t(c.head_dim), k = uint64_t(c.n_activated_experts), f = uint64_t(c.moe_inter_dim);
  const uint64_t visible = uint64_t(p.options.max_context) / 4, ix = uint64_t(c.index_n_heads * c.index_head_dim);
  auto act = [&](const std::string& name, const std::string& fmt, uint64_t bytes) {
    p.buffers.push_back({"act." + name, BufferKind::Activation, fmt, bytes});
  };
  p.buffers.push_back({"hc_streams", BufferKind::Residual, "bf16", t * hc * d * 2});
  act("x", "bf16 (hc_pre out, normed)", 2 * t * d * 2);
  act("hc_mix", "fp32 post + comb", t * (hc + hc * hc) * 4);
  act("qr", "bf16", t * uint64_t(c.q_lora_rank) * 2);
  act("q", "bf16", t * heads * hd * 2);
  act("kv", "bf16", t * hd * 2);
  act("compressor_in", "fp32 kv + gate", t * 2 * 2 * hd * 4);
  act("index_q", "bf16", t * ix * 2);
  act("index_scores", "bf16", t * visible * 2);
  act("index_sel", "int32", t * uint64_t(c.index_topk) * 4);
  act("o", "bf16", t * heads * hd * 2);
  act("wo_a_out", "bf16", t * uint64_t(c.o_groups * c.o_lora_rank) * 2);
  act("sublayer_out", "bf16", t * d * 2);
  act("routing", "int32 ids + fp32 weights", t * k * 8);
  act("expert_hidden", "fp32 gate/up", t * (k + 1) * f * 2 * 4);
  act("moe_acc", "fp32", t * d * 4);
  p.buffers.push_back({"logits", BufferKind::Logits, "fp32", uint64_t(p.options.batch_size) * uint64_t(c.vocab_size) * 4});
}

std::string human(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
  else if (bytes >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", double(bytes) / double(1ull << 20));
  else if (bytes >= (1ull << 10)) std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / double(1ull << 10));
  else std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)bytes);
  return buf;
}

}  // namespace

MemoryPlan plan_memory(const ModelConfig& c, const WeightFormats& formats, const RunOptions& options) {
  if (options.max_context <= 0 || options.batch_size <= 0 || options.prefill_chunk <= 0) {
    throw std::invalid_argument("max context, batch size and prefill chunk must be positive");
  }
  MemoryPlan p;
  p.options = options;
  p.kv_entry_bytes = kv_entry_bytes(c);
  p.index_entry_bytes = index_entry_bytes(c);
  add_weights(p, c, formats);
  add_caches(p, c);
  add_activations(p, c);
  return p;
}

std::string describe(const MemoryPlan& p) {
  std::string out = "memory plan: context " + std::to_string(p.options.max_context) + ", batch " +
                    std::to_string(p.options.batch_size) + ", prefill chunk " + std::to_string(p.options.prefill_chunk) +
                    (p.options.with_mtp ? ", with MTP" : "") + "\n";
  for (BufferKind k : {BufferKind::Weights, BufferKind::Residual, BufferKind::Activation, BufferKind::WindowRing,
                       BufferKind::CompressedKv, BufferKind::IndexKeys, BufferKind::CompressorState, BufferKind::Logits}) {
    char line[96];
    std::snprintf(line, sizeof line, "  %-18s %12s\n", buffer_kind_name(k), human(p.total(k)).c_str());
    out += line;
  }
  char line[160];
  std::snprintf(line, sizeof line, "  %-18s %12s\n", "total", human(p.total()).c_str());
  out += line;
  out += "buffers:\n";
  for (const BufferSpec& b : p.buffers) {
    std::snprintf(line, sizeof line, "  %-40s %-18s %-26s %12s\n", b.name.c_str(), buffer_kind_name(b.kind),
                  b.format.c_str(), human(b.bytes).c_str());
    out += line;
  }
  return out;
}

}  // namespace dsv4::graph
