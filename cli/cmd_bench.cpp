// dsv4 bench: end-to-end prefill and decode speed of the Vulkan executor on a model, per context
// length and batch size, with the per-op-family split from GPU timestamps and the achieved
// fraction of the bandwidth roofline (bytes a decode step must read / time / measured bandwidth).
// Decode at context C is timed at positions spread over the last 128 before C without filling the
// caches first (the kernels read exactly the entries a real sequence would; the values are not
// meaningful, the time is).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/bench_scale.h"
#include "cli/commands.h"
#include "cli/runtime.h"
#include "graph/memory_plan.h"
#include "vk/bandwidth.h"
#include "vk/device.h"
#include "vk/device_select.h"
#include "vk/instance.h"
#include "vk/error.h"
#include "weights/model_dir.h"
#include "weights/model_stats.h"
#include "weights/synthetic_model.h"

namespace dsv4::cli {

namespace {

const char* hc_fusion_name(gpu::ExecutorOptions::HcFusion f) {
  using F = gpu::ExecutorOptions::HcFusion;
  return f == F::None ? "none" : f == F::Partials ? "partials" : f == F::Full ? "full" : "auto";
}

struct BenchArgs {
  RuntimeArgs rt;
  std::vector<int64_t> ctx = {4096};
  std::vector<uint32_t> batch = {1};
  std::vector<int64_t> prompt_len = {512};
  int steps = 16;
  std::string json, plot;
  std::string scale_to;  // flash | pro | a config.json or model directory: report the step scaled to its layers
};

// The config --scale-to names: a preset's full layer mix, or a config.json (or its directory).
ModelConfig scale_target(const std::string& what) {
  if (what == "flash" || what == "pro") {
    SyntheticOptions o;
    o.preset = what;
    return synthetic_config(o);
  }
  const std::filesystem::path p(what);
  return load_model_config(std::filesystem::is_directory(p) ? p / "config.json" : p);
}

// Which family a dispatch belongs to, from its label (module names of the op list).
std::string family_of(const std::string& label) {
  auto has = [&](const char* s) { return label.find(s) != std::string::npos; };
  if (has(".indexer")) return "indexer";
  if (has(".wq_a") || has(".wq_b") || has(".wkv") || has(".wo_a") || has(".wo_b")) return "dense linear";
  if (has(".attn")) return "attention";
  if (has(".ffn")) return "moe";
  if (has("hc_")) return "mhc";
  if (has("head") || has("norm") || has("sample") || has("gather")) return "head";
  if (has("embed")) return "embed";
  return "other";
}

// Whether a dispatch is one of the model's weight products (dense linears and the head as GEMMs or
// GEMVs, the experts' grouped GEMMs or GEMVs): the "GEMMs" of the prefill split (issue target: at
// most 25% of prefill time outside them). Their input quantisers, the router, sorts, attention, mHC
// and the rest are outside.
bool is_weight_product(const std::string& label) {
  const auto ends = [&](const std::string& s) { return label.size() >= s.size() && label.compare(label.size() - s.size(), s.size(), s) == 0; };
  const auto has = [&](const char* s) { return label.find(s) != std::string::npos; };
  return ends("/gemm_coopmat") || ends("/gemm") || ends("/gemv") || ends("/gemv_q") || has("moe gate_up") || has("moe down");
}

// Bytes one decode step must read at position `pos`: active weights, the head, one embedding row
// (param_stats) plus the KV entries attention and the indexer read.
double decode_bytes(const ModelConfig& c, const WeightFormats& f, int64_t pos) {
  double b = double(param_stats(c, f).bytes_per_token);
  const double kv = double(graph::kv_entry_bytes(c)), ix = double(graph::index_entry_bytes(c));
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const int64_t r = c.ratio(i), visible = r > 0 ? (pos + 1) / r : 0;
    b += double(std::min<int64_t>(c.window_size, pos + 1)) * kv;
    if (r == 4) b += double(visible) * ix + double(std::min<int64_t>(c.index_topk, visible)) * kv;
    else if (r > 0) b += double(visible) * kv;
  }
  return b;
}

std::vector<gpu::StepRow> random_rows(int64_t n, int64_t start, int32_t seq, int64_t vocab, std::mt19937& rng) {
  std::vector<gpu::StepRow> rows;
  for (int64_t i = 0; i < n; ++i) rows.push_back({int32_t(rng() % uint32_t(vocab)), int32_t(start + i), seq, 0});
  return rows;
}

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs f until its time has settled: at least `min_seconds`, then until two runs in a row agree
// within 3% (at most `max_seconds`). A GPU idle for a moment (loading, recording a new executor)
// runs at reduced clocks for a while: one warm-up step left the first Flash point of an H100 run
// at 8.7 ms/step, and half a second of steps at 4.5, against 2.7-2.8 for the same step warm.
void warm_up(double min_seconds, double max_seconds, const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  double prev = seconds_of(f);
  for (;;) {
    const double t = seconds_of(f);
    if ((elapsed() >= min_seconds && std::fabs(t - prev) <= 0.03 * prev) || elapsed() >= max_seconds) return;
    prev = t;
  }
}

constexpr double kWarmUpMinSeconds = 0.5, kWarmUpMaxSeconds = 5;

// Decode tokens/s against context (log2 axis), one line per batch size; or, when one context and
// several batch sizes were measured, aggregate tokens/s against batch size (log2 axis).
void write_plot(const std::string& path, const nlohmann::json& points) {
  std::set<int64_t> ctxs, batches;
  for (const auto& p : points) ctxs.insert(p["ctx"].get<int64_t>()), batches.insert(p["batch"].get<int64_t>());
  const bool by_batch = ctxs.size() == 1 && batches.size() > 1;
  const char* xkey = by_batch ? "batch" : "ctx";
  const char* series_key = by_batch ? "ctx" : "batch";
  std::ofstream f(path);
  if (!f) throw std::runtime_error("cannot write " + path);
  const double W = 640, H = 400, L = 60, B = 40;
  double xmax = 1, ymax = 1;
  for (const auto& p : points)
    xmax = std::max(xmax, std::log2(p[xkey].get<double>())), ymax = std::max(ymax, p["decode_tok_s"].get<double>());
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "'>\n"
    << "<text x='" << L << "' y='20' font-size='14'>dsv4 decode tokens/s vs " << (by_batch ? "batch size" : "context")
    << "</text>\n"
    << "<line x1='" << L << "' y1='" << H - B << "' x2='" << W - 10 << "' y2='" << H - B << "' stroke='black'/>\n"
    << "<line x1='" << L << "' y1='" << H - B << "' x2='" << L << "' y2='30' stroke='black'/>\n";
  std::map<int64_t, std::string> lines;
  std::set<int64_t> labelled;
  for (const auto& p : points) {
    const double x = L + (W - L - 20) * std::log2(p[xkey].get<double>()) / xmax;
    const double y = H - B - (H - B - 40) * p["decode_tok_s"].get<double>() / ymax;
    lines[p[series_key].get<int64_t>()] += std::to_string(x) + "," + std::to_string(y) + " ";
    if (labelled.insert(p[xkey].get<int64_t>()).second)
      f << "<text x='" << x << "' y='" << H - B + 15 << "' font-size='10'>" << p[xkey].get<int64_t>() << "</text>\n";
  }
  int row = 0;
  for (const auto& [k, pts] : lines)
    f << "<polyline fill='none' stroke='steelblue' points='" << pts << "'/><text x='" << W - 110 << "' y='" << 40 + 14 * row++
      << "' font-size='11'>" << series_key << " " << k << "</text>\n";
  f << "<text x='5' y='40' font-size='10'>" << ymax << "</text></svg>\n";
}

// Routed-expert bytes of one expert in one layer (weights + scales), from param_stats' difference
// between k+1 and k activated experts.
double expert_bytes(const ModelConfig& c, const WeightFormats& f) {
  if (c.n_routed_experts == 0 || c.n_layers == 0) return 0;
  ModelConfig more = c;
  more.n_activated_experts += 1;
  return double(param_stats(more, f).bytes_per_token - param_stats(c, f).bytes_per_token) / double(c.n_layers);
}

// Bytes a decode step of `batch` sequences at position `pos` must read: the weights once (routed
// experts: the expected number of distinct experts that batch * topk uniform picks touch) plus
// every sequence's KV entries.
double decode_step_bytes(const ModelConfig& c, const WeightFormats& f, int64_t pos, uint32_t batch) {
  const double one = decode_bytes(c, f, pos);
  const double weights = double(param_stats(c, f).bytes_per_token);
  const double kv = one - weights;
  const double e = double(c.n_routed_experts), k = double(c.n_activated_experts);
  const double touched = e > 0 ? e * (1.0 - std::pow(1.0 - k / e, double(batch))) : 0;
  return weights + double(c.n_layers) * expert_bytes(c, f) * (touched - k) + double(batch) * kv;
}

// The read-bandwidth probe (vk/bandwidth.h) with its 2 x 1 GiB buffers, or smaller ones when the
// weights leave less room.
double probe_bandwidth(vk::Device& device) {
  vk::BandwidthOptions o;
  for (;; o.bytes /= 4) {
    try {
      return vk::measure_bandwidth(device, o).read_gbps;
    } catch (const vk::OutOfDeviceMemory&) {
      if (o.bytes <= (64ull << 20)) throw;
    }
  }
}

// The compiler statistics of the last executor's kernels (bench --kernel-stats), printed and
// returned as {kernel key: {statistic: value}}.
nlohmann::json kernel_statistics(const Runtime& rt) {
  nlohmann::json out = nlohmann::json::object();
  if (!rt.device->caps().pipeline_statistics) {
    std::printf("kernel statistics: %s does not report them (VK_KHR_pipeline_executable_properties)\n",
                rt.device->caps().name.c_str());
    return out;
  }
  std::printf("kernel statistics (%s):\n", rt.device->caps().name.c_str());
  for (const auto& [key, kernel] : rt.executor->kernels().list()) {
    std::string line;
    for (const vk::KernelStatistic& s : kernel->statistics()) {
      out[key][s.name] = s.value;
      line += (line.empty() ? "" : ", ") + s.name + " " + s.value;
    }
    std::printf("  %s: %s\n", key.c_str(), line.c_str());
  }
  return out;
}

void bench(BenchArgs a) {
  nlohmann::json report;
  const ModelDir md = open_model_dir(a.rt.model.empty() ? ensure_demo_model() : std::filesystem::path(a.rt.model));
  std::mt19937 rng(1);
  nlohmann::json points = nlohmann::json::array();
  // The weights load once; each (context, batch) point gets its own executor (caches, recordings).
  RuntimeArgs first = a.rt;
  first.ctx = a.ctx.front();
  first.seqs = a.batch.front();
  first.chunk = uint32_t(std::min<int64_t>(*std::max_element(a.prompt_len.begin(), a.prompt_len.end()), first.ctx));
  first.timestamps = false;
  // The probe runs on the freshly opened device, before the weights: measured after a large
  // load it reported 40% less (1.8 against 3.0 TB/s on an H100; the head GEMV itself streamed
  // 2.9 TB/s), which would flatter every roofline fraction.
  double bandwidth = 0;
  {
    vk::Instance instance;
    bandwidth = probe_bandwidth(*vk::Device::open(instance, vk::device_selector(a.rt.device)));
  }
  std::optional<ModelConfig> full;
  if (!a.scale_to.empty()) full = scale_target(a.scale_to);
  std::unique_ptr<Runtime> rt = open_runtime(first, false);
  if (full) scale_step_profile(rt->cfg, {}, *full);  // every layer kind of the target measured, or a clear error
  report["device"] = rt->device->caps().name;
  report["driver"] = rt->device->caps().driver_name;
  report["bandwidth_gbps"] = bandwidth;
  report["model_bytes"] = md.checkpoint.total_bytes();
  report["load_seconds"] = rt->load_seconds;
  for (int64_t ctx : a.ctx) {
    for (uint32_t batch : a.batch) {
      RuntimeArgs ra = first;
      ra.ctx = ctx;
      ra.seqs = batch;
      ra.chunk = uint32_t(std::min<int64_t>(first.chunk, ctx));
      // Timed without timestamp queries: a timestamp after every dispatch waits for the GPU to
      // drain, so it serialises dispatches the barrier plan lets overlap and slows the step. The
      // per-family split comes from a second, profiled executor afterwards.
      if (ctx != first.ctx || batch != first.seqs || !points.empty()) open_executor(*rt, ra);
      nlohmann::json pt = {{"ctx", ctx}, {"batch", batch}};
      // Prefill (one chunk per prompt length) does not depend on the batch: timed at the first.
      const bool prefill = batch == a.batch.front();
      std::vector<std::vector<gpu::StepRow>> prompts;
      if (prefill)
        for (int64_t pl : a.prompt_len) prompts.push_back(random_rows(std::min<int64_t>(pl, ra.chunk), 0, 0, rt->cfg.vocab_size, rng));
      for (const auto& rows : prompts) {
        warm_up(kWarmUpMinSeconds, kWarmUpMaxSeconds, [&] { rt->executor->step(rows, false); });  // first-use costs, clocks
        const double s = seconds_of([&] { rt->executor->step(rows, false); });
        pt["prefill"][std::to_string(rows.size())] = double(rows.size()) / s;
      }
      // Decode for every slot at positions spread over the last 128 before ctx: a compressor emits
      // only every `ratio` positions, and timing one position would time an emission every step.
      std::vector<gpu::StepRow> rows;
      for (uint32_t b = 0; b < batch; ++b) rows.push_back({int32_t(rng() % 1000), int32_t(ctx - 1), int32_t(b), int32_t(b)});
      const int64_t spread = std::min<int64_t>(128, ctx);
      auto decode_steps = [&](gpu::VulkanExecutor& ex, int steps) {
        for (int i = 0; i < steps; ++i) {
          for (gpu::StepRow& r : rows) r.pos = int32_t(ctx - 1 - (int64_t(i) * 37) % spread);
          ex.step(rows, true);
        }
      };
      warm_up(kWarmUpMinSeconds, kWarmUpMaxSeconds, [&] { decode_steps(*rt->executor, 8); });
      const double s = seconds_of([&] { decode_steps(*rt->executor, a.steps); });
      const double per_step = s / a.steps;
      pt["decode_tok_s"] = double(batch) / per_step;
      pt["decode_ms_per_step"] = per_step * 1e3;
      const double bytes = decode_step_bytes(rt->cfg, md.formats, ctx - 1, batch);
      pt["bytes_per_step"] = bytes;
      pt["bytes_per_token"] = bytes / double(batch);
      pt["roofline_fraction"] = bytes / per_step / (bandwidth * 1e9);
      pt["dispatches_per_step"] = rt->executor->stats().decode_dispatches;
      pt["dispatches_per_layer"] = double(rt->executor->stats().decode_dispatches) / double(rt->cfg.n_layers);
      pt["barriers_per_step"] = rt->executor->stats().decode_barriers;
      pt["reordered"] = ra.reorder;
      pt["act_quant_fused"] = ra.fuse_act_quant;
      pt["gemvs_merged"] = ra.merge_gemvs;
      pt["expert_gemvs_merged"] = ra.merge_expert_gemvs;
      pt["fp4_wide_gemv"] = ra.fp4_wide_gemv;
      pt["hc_fusion"] = hc_fusion_name(rt->executor->options().hc_fusion);  // auto resolved
      pt["attn_split_keys"] = ra.attn_split_keys;
      pt["q_heads_fused"] = ra.fuse_q_heads;
      pt["recordings"] = rt->executor->stats().recordings;

      RuntimeArgs profiled = ra;
      profiled.timestamps = true;
      open_executor(*rt, profiled);
      gpu::VulkanExecutor& ex = *rt->executor;
      for (const auto& prompt : prompts) {
        ex.step(prompt, false);
        ex.step(prompt, false);
        std::map<std::string, double> split;
        nlohmann::json& profile = pt["prefill_profile"][std::to_string(prompt.size())] = nlohmann::json::array();
        double total_ms = 0, product_ms = 0;
        for (const auto& [label, ns] : ex.last_profile()) {
          split[family_of(label)] += ns / 1e6;
          profile.push_back({{"dispatch", label}, {"ms", ns / 1e6}});
          total_ms += ns / 1e6;
          if (is_weight_product(label)) product_ms += ns / 1e6;
        }
        pt["prefill_split_ms"][std::to_string(prompt.size())] = split;
        if (total_ms > 0) pt["prefill_outside_gemm_fraction"][std::to_string(prompt.size())] = 1.0 - product_ms / total_ms;
      }
      decode_steps(ex, 2);
      std::vector<std::pair<std::string, double>> prof = ex.last_profile();  // the last decode step's timestamps
      std::map<std::string, double> split;  // ms per family
      double profiled_ms = 0;
      for (const auto& [label, ns] : prof) {
        split[family_of(label)] += ns / 1e6;
        profiled_ms += ns / 1e6;
      }
      pt["decode_split_ms"] = split;
      pt["decode_profiled_ms_per_step"] = profiled_ms;
      if (full && profiled_ms > 0) {  // the timed step, in the proportion the profile scales by
        const ScaledStep sc = scale_step_profile(rt->cfg, prof, *full);
        const double ms = per_step * 1e3 * sc.scaled_ns / sc.measured_ns;
        const double full_bytes = decode_step_bytes(*full, md.formats, ctx - 1, batch);
        pt["scaled"] = {{"to", a.scale_to},
                        {"layers", full->n_layers},
                        {"decode_ms_per_step", ms},
                        {"decode_tok_s", double(batch) / ms * 1e3},
                        {"bytes_per_step", full_bytes},
                        {"roofline_fraction", full_bytes / (ms * 1e-3) / (bandwidth * 1e9)}};
      }
      for (const auto& [label, ns] : prof) pt["decode_profile"].push_back({{"dispatch", label}, {"ms", ns / 1e6}});
      std::sort(prof.begin(), prof.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
      for (size_t i = 0; i < std::min<size_t>(8, prof.size()); ++i)
        pt["decode_slowest"].push_back({{"dispatch", prof[i].first}, {"ms", prof[i].second / 1e6}});
      points.push_back(pt);
      std::printf("ctx %7lld batch %3u | decode %8.1f tok/s %7.2f ms/step %5.1f%% of roofline (%.2f GB/step)",
                  (long long)ctx, batch, pt["decode_tok_s"].get<double>(), per_step * 1e3,
                  100 * pt["roofline_fraction"].get<double>(), bytes / 1e9);
      if (pt.contains("prefill")) {
        std::printf(" | prefill");
        for (auto& [k, v] : pt["prefill"].items()) {
          std::printf(" %s: %.0f tok/s", k.c_str(), v.get<double>());
          if (pt.contains("prefill_outside_gemm_fraction") && pt["prefill_outside_gemm_fraction"].contains(k))
            std::printf(" (%.0f%% outside the GEMMs)", 100 * pt["prefill_outside_gemm_fraction"][k].get<double>());
        }
      }
      std::printf("\n");
      if (pt.contains("scaled"))
        std::printf("                       | scaled to %lld layers: %8.1f tok/s %7.2f ms/step %5.1f%% of roofline"
                    " (%.2f GB/step)\n",
                    (long long)full->n_layers, pt["scaled"]["decode_tok_s"].get<double>(),
                    pt["scaled"]["decode_ms_per_step"].get<double>(), 100 * pt["scaled"]["roofline_fraction"].get<double>(),
                    pt["scaled"]["bytes_per_step"].get<double>() / 1e9);
      std::fflush(stdout);
    }
  }
  report["points"] = points;
  if (a.rt.kernel_stats) report["kernel_stats"] = kernel_statistics(*rt);
  if (!a.json.empty()) {
    std::ofstream f(a.json);
    if (!f) throw std::runtime_error("cannot write " + a.json);
    f << report.dump(2) << "\n";
  }
  if (!a.plot.empty()) write_plot(a.plot, points);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed against the bandwidth roofline");
  cmd->add_option("--model", a->rt.model, "Model directory (default: the demo model)");
  cmd->add_option("--device", a->rt.device, "Vulkan device: index or name substring");
  cmd->add_option("--ctx", a->ctx, "Context lengths to time decode at (comma-separated list)")->delimiter(',');
  cmd->add_option("--batch", a->batch, "Batch sizes (sequences decoded together; comma-separated)")->delimiter(',');
  cmd->add_option("--prompt-len", a->prompt_len, "Prompt lengths for prefill (comma-separated)")->delimiter(',');
  cmd->add_option("--steps", a->steps, "Decode steps timed per point")->check(CLI::Range(1, 100000));
  cmd->add_flag("--in-op-order", [a](int64_t) { a->rt.reorder = false; },
                "Record the dispatches in the op list's order instead of dependency levels (to compare)");
  cmd->add_flag("--act-quant-dispatch", [a](int64_t) { a->rt.fuse_act_quant = false; },
                "Quantise the decode GEMVs' inputs (FP8 linears, MoE experts) and apply q_norm in dispatches of their own instead of inside the GEMVs (to compare)");
  cmd->add_flag("--gemvs-apart", [a](int64_t) { a->rt.merge_gemvs = false; },
                "Run the one-row decode GEMVs of one input (wq_a and wkv; the two compressors) as a dispatch each instead of merged (to compare)");
  cmd->add_flag("--merge-expert-gemvs", a->rt.merge_expert_gemvs,
                "Run the routed and shared experts' decode GEMVs as one dispatch for gate/up and one for down (to compare)");
  cmd->add_flag("--fp4-wide-gemv", a->rt.fp4_wide_gemv,
                "Run the MXFP4 expert GEMVs on 16-byte loads (an experimental kernel variant, to compare)");
  cmd->add_option("--hc-fusion", a->rt.hc_fusion,
                  "How much of the next hc_pre each decode hc_post runs: none, partials (its mix dots), full (all of it) "
                  "or auto (default: partials with one sequence, none with more)")
      ->check(CLI::IsMember({"auto", "none", "partials", "full"}));
  cmd->add_flag("--q-heads-dispatch", [a](int64_t) { a->rt.fuse_q_heads = false; },
                "Decode: finish the query heads (per-head norm, RoPE) in a dispatch of their own instead of in wq_b's last workgroups (to compare)");
  cmd->add_option("--attn-split-keys", a->rt.attn_split_keys,
                  "Decode sparse attention: keys per split of a row's longest key list (default 8; more keys mean "
                  "fewer P.V workgroups and fewer partials to merge; to compare)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--kernel-stats", a->rt.kernel_stats,
                "Print (and put in the JSON) the driver's compiler statistics of every kernel the last point ran: "
                "registers, shared and local memory where the driver reports them");
  cmd->add_option("--json", a->json, "Write the results as JSON (schema: bench/README.md)");
  cmd->add_option("--plot", a->plot, "Write an SVG plot: decode tokens/s vs context (or vs batch size for one context)");
  cmd->add_option("--scale-to", a->scale_to,
                  "Also report each decode point scaled to another layer mix: flash or pro (the full presets) or a "
                  "config.json / model directory (per-layer time by compress ratio, from the profiled step)");
  cmd->callback([a] { bench(*a); });
}

}  // namespace dsv4::cli
