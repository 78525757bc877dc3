#include "weights/synthetic_model.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "weights/error.h"
#include "weights/formats.h"

namespace dsv4 {

namespace {

namespace fs = std::filesystem;

// ---- random numbers ------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// xoshiro256**: fast, and good enough for weights nobody trains.
class Rng {
 public:
  Rng(uint64_t seed, std::string_view name) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the tensor name, so tensors are independent
    for (char ch : name) h = (h ^ uint8_t(ch)) * 0x100000001b3ull;
    uint64_t x = seed ^ h;
    for (auto& v : s_) v = splitmix64(x);
  }
  uint64_t next() {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  double uniform() { return double(next() >> 11) * 0x1p-53; }  // [0, 1)

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_{};
};

double inverse_normal_cdf(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 80; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

// Standard normal samples from a quantile table (linear interpolation between 4096 quantiles),
// rescaled to unit variance: ~2 ns a sample, tails cut at ~3.5 sigma, which weights never miss.
class NormalTable {
 public:
  NormalTable() {
    double sq = 0;
    for (int i = 0; i < kN; ++i) t_[i] = inverse_normal_cdf((i + 0.5) / kN), sq += t_[i] * t_[i];
    const double norm = std::sqrt(sq / kN);
    for (auto& v : t_) v = float(v / norm);
    t_[kN] = t_[kN - 1];
  }
  float sample(uint32_t u) const {
    const uint32_t i = u >> 20;
    const float f = float(u & 0xfffff) * 0x1p-20f;
    return t_[i] + f * (t_[i + 1] - t_[i]);
  }

 private:
  static constexpr int kN = 4096;
  std::array<float, kN + 1> t_{};
};

const NormalTable& normal_table() {
  static const NormalTable t;
  return t;
}

// ---- MXFP4 codes ---------------------------------------------------------------------------------

// Random e2m1 bytes whose nibbles follow a normal of std kCodeSigma in units of the block scale,
// quantised to the e2m1 grid (round to nearest even, saturating at 6).
class Fp4Codes {
 public:
  static constexpr double kCodeSigma = 2.0;
  Fp4Codes() {
    std::array<uint8_t, 256> nib{};
    double sq = 0;
    for (int k = 0; k < 256; ++k) {
      nib[k] = formats::float_to_e2m1(float(kCodeSigma * inverse_normal_cdf((k + 0.5) / 256)));
      sq += double(formats::e2m1_to_float(nib[k])) * formats::e2m1_to_float(nib[k]);
    }
    code_std_ = std::sqrt(sq / 256);
    for (int b = 0; b < 65536; ++b) bytes_[b] = uint8_t(nib[b & 0xff] | (nib[b >> 8] << 4));
  }
  uint8_t byte(uint16_t r) const { return bytes_[r]; }
  double code_std() const { return code_std_; }

 private:
  std::array<uint8_t, 65536> bytes_{};
  double code_std_ = 1;
};

const Fp4Codes& fp4_codes() {
  static const Fp4Codes t;
  return t;
}

// Power-of-two exponents whose expected square is target^2: floor or ceil of log2(target), drawn
// so that E[4^e] = target^2 — the per-32 scales then vary like those of a real quantised tensor.
class RandomExponent {
 public:
  explicit RandomExponent(double target) {
    const double a = std::log2(target);
    floor_ = int(std::floor(a));
    const double lo = std::pow(4.0, floor_), hi = std::pow(4.0, floor_ + 1);
    threshold_ = uint64_t((hi - target * target) / (hi - lo) * 0x1p32);
  }
  int draw(uint32_t u) const { return uint64_t(u) < threshold_ ? floor_ : floor_ + 1; }

 private:
  int floor_ = 0;
  uint64_t threshold_ = 0;
};

// ---- presets --------------------------------------------------------------------------------------

ModelConfig base_config() {
  ModelConfig c;
  c.n_mtp_layers = 1;
  c.n_shared_experts = 1;
  c.swiglu_limit = 10.f;
  c.norm_eps = 1e-6f;
  c.rope_theta = 10000.0;
  c.compress_rope_theta = 160000.0;
  c.rope_factor = 16.0;
  c.original_seq_len = 65536;
  c.beta_fast = 32.0;
  c.beta_slow = 1.0;
  c.hc_mult = 4;
  c.hc_sinkhorn_iters = 20;
  c.hc_eps = 1e-6f;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  c.expert_dtype_explicit = true;
  return c;
}

ModelConfig tiny_preset() {  // tiny-a's shapes: every layer kind, window 8 so rings wrap
  ModelConfig c = base_config();
  c.vocab_size = 1024, c.dim = 256, c.moe_inter_dim = 128, c.n_layers = 5, c.n_hash_layers = 1;
  c.n_heads = 4, c.n_routed_experts = 8, c.n_activated_experts = 2, c.route_scale = 1.5f;
  c.q_lora_rank = 128, c.head_dim = 128, c.rope_head_dim = 64, c.o_groups = 2, c.o_lora_rank = 64;
  c.window_size = 8, c.index_n_heads = 4, c.index_head_dim = 64, c.index_topk = 3;
  c.max_position_embeddings = 4096;
  return c;
}

ModelConfig small_preset() {  // wider, nope 128 != rope 64, ratio 128, still CPU-runnable
  ModelConfig c = base_config();
  c.vocab_size = 4096, c.dim = 512, c.moe_inter_dim = 256, c.n_layers = 6, c.n_hash_layers = 1;
  c.n_heads = 8, c.n_routed_experts = 16, c.n_activated_experts = 4, c.route_scale = 2.5f;
  c.q_lora_rank = 256, c.head_dim = 192, c.rope_head_dim = 64, c.o_groups = 4, c.o_lora_rank = 128;
  c.window_size = 16, c.index_n_heads = 8, c.index_head_dim = 128, c.index_topk = 8;
  c.max_position_embeddings = 16384;
  return c;
}

// The built-in demo of `dsv4 run`: tiny's shapes with the real vocabulary, so the real tokenizer's
// text round-trips through it (random weights: the text is noise, and labelled as such).
ModelConfig demo_preset() {
  ModelConfig c = tiny_preset();
  c.vocab_size = 129280, c.n_layers = 4, c.window_size = 16;
  c.bos_token_id = 0, c.eos_token_id = 1;
  return c;
}

ModelConfig real_preset(bool pro) {  // model-spec §1.1
  ModelConfig c = base_config();
  c.vocab_size = 129280, c.dim = pro ? 7168 : 4096, c.moe_inter_dim = pro ? 3072 : 2048;
  c.n_layers = pro ? 61 : 43, c.n_hash_layers = 3, c.n_heads = pro ? 128 : 64;
  c.n_routed_experts = pro ? 384 : 256, c.n_activated_experts = 6, c.route_scale = pro ? 2.5f : 1.5f;
  c.q_lora_rank = pro ? 1536 : 1024, c.head_dim = 512, c.rope_head_dim = 64;
  c.o_groups = pro ? 16 : 8, c.o_lora_rank = 1024, c.window_size = 128;
  c.index_n_heads = 64, c.index_head_dim = 128, c.index_topk = pro ? 1024 : 512;
  c.max_position_embeddings = 1048576;
  return c;
}

std::vector<int64_t> preset_ratios(const std::string& preset, int64_t n) {
  std::vector<int64_t> r;
  for (int64_t i = 0; i < n; ++i) {
    if (preset == "tiny" || preset == "demo") r.push_back(i == 0 ? 0 : (i % 2 ? 4 : 16));
    else if (preset == "small") r.push_back(i == 0 ? 0 : (i % 2 ? 4 : 128));
    else if (preset == "flash") r.push_back(i < 2 ? 0 : (i % 2 == 0 ? 4 : 128));  // [0,0]+[4,128]*20+[4]
    else r.push_back(i < 2 ? 128 : (i % 2 == 0 ? 4 : 128));                       // [128,128]+[4,128]*29+[4]
  }
  r.push_back(0);  // the MTP block
  return r;
}

// ---- initialisation rules (spreads measured on tests/data/tiny-a, scaled by fan-in) -------------

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
bool ends(const std::string& s, const char* suffix) { return s.ends_with(suffix); }

double linear_gain(const std::string& module) {
  if (ends(module, ".w1") || ends(module, ".w3")) return 4.5;  // SwiGLU clamp at 10 binds now and then
  if (ends(module, "attn.wo_b")) return 1.5;
  return 1.0;
}

// ---- writing ---------------------------------------------------------------------------------------

// Bytes written over all shards (they are written in parallel) and the caller's progress
// callback, called by one writer at a time.
class Progress {
 public:
  Progress(uint64_t total, const ProgressFn& fn) : total_(total), fn_(fn) {}
  void add(uint64_t n) {
    const uint64_t done = done_ += n;
    if (!fn_) return;
    std::lock_guard lock(mu_);
    last_ = std::max(last_, done);  // callbacks in increasing order, whichever thread gets here first
    fn_(last_, total_);
  }

 private:
  std::atomic<uint64_t> done_{0};
  const uint64_t total_;
  uint64_t last_ = 0;
  const ProgressFn& fn_;
  std::mutex mu_;
};

// Generation and the disk write (mostly the kernel's page-cache copy) take about the same time,
// so a second thread writes while the next chunk is generated. At most kQueued chunks wait.
class ShardWriter {
 public:
  ShardWriter(const fs::path& path, const ShardPlan& plan, Progress& progress)
      : w_(path, plan.specs), progress_(progress), thread_([this] { drain(); }) {}
  ~ShardWriter() {
    stop();
  }
  void write(const void* p, size_t n) {
    std::vector<std::byte> chunk(static_cast<const std::byte*>(p), static_cast<const std::byte*>(p) + n);
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return queue_.size() < kQueued || error_; });
    if (error_) std::rethrow_exception(error_);
    queue_.push_back(std::move(chunk));
    cv_.notify_all();
  }
  void finish() {
    stop();
    if (error_) std::rethrow_exception(error_);
    w_.finish();
  }

 private:
  static constexpr size_t kQueued = 3;
  void stop() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }
  void drain() {
    for (;;) {
      std::vector<std::byte> chunk;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
      }
      try {
        w_.write(chunk);
      } catch (...) {
        std::lock_guard lock(mu_);
        error_ = std::current_exception();
        queue_.clear();
        cv_.notify_all();
        return;
      }
      progress_.add(chunk.size());
    }
  }

  SafetensorsWriter w_;
  Progress& progress_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<std::byte>> queue_;
  bool closing_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts after everything it uses exists
};

constexpr size_t kChunkElems = size_t(1) << 22;

float draw(const InitRule& r, Rng& rng) {
  switch (r.kind) {
    case InitRule::Normal: return float(r.a + r.b * normal_table().sample(uint32_t(rng.next() >> 32)));
    case InitRule::Uniform: return float(r.a + (r.b - r.a) * rng.uniform());
    default: return float(r.a);
  }
}

void write_tid2eid(ShardWriter& out, const ExpectedTensor& e, const ModelConfig& c, Rng& rng) {
  const int64_t rows = e.shape[0], k = e.shape[1];
  std::vector<int64_t> row(static_cast<size_t>(k));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < k; ++j) {  // k distinct experts per token
      int64_t id;
      do id = int64_t(rng.next() % uint64_t(c.n_routed_experts));
      while (std::find(row.begin(), row.begin() + j, id) != row.begin() + j);
      row[size_t(j)] = id;
    }
    out.write(row.data(), row.size() * 8);
  }
}

void write_plain(ShardWriter& out, const ExpectedTensor& e, const InitRule& rule, Rng& rng) {
  int64_t n = 1;
  for (int64_t d : e.shape) n *= d;
  const DType t = e.dtypes.front();
  std::vector<uint16_t> b16;
  std::vector<float> f32;
  for (int64_t i = 0; i < n; i += int64_t(kChunkElems)) {
    const size_t m = size_t(std::min<int64_t>(n - i, int64_t(kChunkElems)));
    if (t == DType::BF16) {
      b16.resize(m);
      for (auto& v : b16) v = formats::float_to_bf16(draw(rule, rng));
      out.write(b16.data(), m * 2);
    } else {
      f32.resize(m);
      for (auto& v : f32) v = draw(rule, rng);
      out.write(f32.data(), m * 4);
    }
  }
}

// FP8 e4m3 weight [out, in] with a 128x128 block scale: random normal floats quantised for real,
// one band of 128 rows at a time (scale = 2^ceil(log2(amax/448)) for E8M0, amax/448 for F32).
void write_fp8(ShardWriter& out, const ExpectedTensor& w, const ExpectedTensor& s, const InitRule& rule, Rng& rng) {
  const int64_t rows = w.shape[0], cols = w.shape[1], bcols = (cols + 127) / 128;
  const bool e8 = s.dtypes.front() == DType::F8_E8M0;
  std::vector<float> band, scales;
  std::vector<uint8_t> codes;
  for (int64_t r0 = 0; r0 < rows; r0 += 128) {
    const int64_t nr = std::min<int64_t>(128, rows - r0);
    band.resize(size_t(nr * cols));
    for (auto& v : band) v = draw(rule, rng);
    std::vector<float> amax(size_t(bcols), 0.f);
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t j = 0; j < cols; ++j) amax[size_t(j / 128)] = std::max(amax[size_t(j / 128)], std::fabs(band[size_t(r * cols + j)]));
    for (auto& a : amax) {
      a = e8 ? formats::fp8_block_scale(a) : std::max(a, 1e-12f) / 448.f;
      scales.push_back(a);
    }
    codes.resize(band.size());
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t j = 0; j < cols; ++j)
        codes[size_t(r * cols + j)] = formats::float_to_e4m3(band[size_t(r * cols + j)] / amax[size_t(j / 128)]);
    out.write(codes.data(), codes.size());
  }
  if (e8) {
    std::vector<uint8_t> b(scales.size());
    for (size_t i = 0; i < b.size(); ++i) b[i] = formats::pow2_to_e8m0(scales[i]);
    out.write(b.data(), b.size());
  } else {
    out.write(scales.data(), scales.size() * 4);
  }
}

// MXFP4 weight: I8 [out, in/2] of random e2m1 codes, E8M0 [out, in/32] scales drawn so the
// dequantised weight has std rule.b (genuine MXFP4: every value is e2m1 x 2^k).
void write_fp4(ShardWriter& out, const ExpectedTensor& w, const ExpectedTensor& s, const InitRule& rule, Rng& rng) {
  const int64_t rows = w.shape[0], row_bytes = w.shape[1];
  const auto& codes = fp4_codes();
  std::vector<uint8_t> buf;
  const int64_t band = std::max<int64_t>(1, int64_t(kChunkElems) / row_bytes);
  for (int64_t r0 = 0; r0 < rows; r0 += band) {
    const int64_t nr = std::min(band, rows - r0);
    buf.resize(size_t(nr * row_bytes));
    size_t i = 0;
    for (; i + 4 <= buf.size(); i += 4) {
      const uint64_t x = rng.next();
      buf[i] = codes.byte(uint16_t(x)), buf[i + 1] = codes.byte(uint16_t(x >> 16));
      buf[i + 2] = codes.byte(uint16_t(x >> 32)), buf[i + 3] = codes.byte(uint16_t(x >> 48));
    }
    for (; i < buf.size(); ++i) buf[i] = codes.byte(uint16_t(rng.next()));
    out.write(buf.data(), buf.size());
  }
  std::vector<uint8_t> sc(size_t(s.shape[0] * s.shape[1]));
  const RandomExponent exponent(rule.b / codes.code_std());
  for (auto& b : sc) b = uint8_t(std::clamp(exponent.draw(uint32_t(rng.next() >> 32)) + 127, 1, 254));
  out.write(sc.data(), sc.size());
}

bool is_quantised(const ExpectedTensor& e) {
  return e.dtypes.front() == DType::F8_E4M3 || e.dtypes.front() == DType::I8;
}

void write_shard(const fs::path& dir, const ShardPlan& plan, const std::vector<ExpectedTensor>& tensors,
                 const ModelConfig& c, uint64_t seed, Progress& progress) {
  ShardWriter out(dir / plan.file, plan, progress);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ExpectedTensor& e = tensors[i];
    Rng rng(seed, e.name);
    const InitRule rule = init_rule(e, c);
    if (is_quantised(e)) {
      const ExpectedTensor& s = tensors.at(++i);  // its .scale always follows (inventory order)
      if (e.dtypes.front() == DType::I8) write_fp4(out, e, s, rule, rng);
      else write_fp8(out, e, s, rule, rng);
    } else if (rule.kind == InitRule::Tid2eid) {
      write_tid2eid(out, e, c, rng);
    } else {
      write_plain(out, e, rule, rng);
    }
  }
  out.finish();
}

// Shards on up to hardware_concurrency() threads: every tensor draws from its own generator
// (seeded by its name), so the files are the same whatever the order. The first failure stops
// handing out shards and is rethrown once the running ones are done. (graph::parallel_for is a
// layer up and neither balances uneven shards nor carries exceptions.)
void write_shards_in_parallel(size_t n, const std::function<void(size_t)>& write) {
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, n);
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex mu;
  auto worker = [&] {
    for (size_t i; (i = next++) < n;) {
      try {
        write(i);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
        next = n;  // stop handing out shards
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

size_t shard_of(const std::string& name, int64_t n_layers) {
  if (name.starts_with("embed.")) return 0;
  if (name.starts_with("layers.")) return size_t(std::stoll(name.substr(7))) + 1;
  return size_t(n_layers) + 1;  // MTP, head, final norm, hc_head
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

std::vector<std::vector<ExpectedTensor>> split_inventory(const ModelConfig& c, const WeightFormats& f) {
  std::vector<std::vector<ExpectedTensor>> shards(size_t(c.n_layers) + 2);
  for (auto& e : model_inventory(c, f)) shards[shard_of(e.name, c.n_layers)].push_back(std::move(e));
  return shards;
}

void prepare_out_dir(const fs::path& out, bool overwrite) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) throw ModelError(out.string() + ": exists and is not a directory");
    if (!fs::is_empty(out, ec) && !overwrite)
      throw ModelError(out.string() + ": directory is not empty (use --force to overwrite)");
  }
  fs::create_directories(out, ec);
  if (ec) throw ModelError(out.string() + ": cannot create (" + ec.message() + ")");
}

void check_disk_space(const fs::path& out, uint64_t need) {
  struct statvfs st{};
  if (::statvfs(out.c_str(), &st) != 0) return;
  const uint64_t avail = uint64_t(st.f_bavail) * st.f_frsize;
  if (need + (64ull << 20) > avail)
    throw ModelError(out.string() + ": needs " + std::to_string(need / 1000000) + " MB, only " +
                     std::to_string(avail / 1000000) + " MB free");
}

void copy_tokenizer(const fs::path& src, const fs::path& out) {
  std::error_code ec;
  const fs::path dir = fs::is_directory(src, ec) ? src : src.parent_path();
  const fs::path json = fs::is_directory(src, ec) ? src / "tokenizer.json" : src;
  if (!fs::exists(json, ec)) throw ModelError(json.string() + ": no such tokenizer file");
  fs::copy_file(json, out / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
  if (ec) throw ModelError(json.string() + ": cannot copy (" + ec.message() + ")");
  const fs::path cfg = dir / "tokenizer_config.json";
  if (fs::exists(cfg, ec)) fs::copy_file(cfg, out / "tokenizer_config.json", fs::copy_options::overwrite_existing, ec);
}

void write_json(const fs::path& p, const nlohmann::json& j) {
  std::ofstream out(p, std::ios::binary);
  out << j.dump(2) << "\n";
  if (!out) throw ModelError(p.string() + ": write failed");
}

}  // namespace

InitRule init_rule(const ExpectedTensor& e, const ModelConfig& c) {
  const std::string& n = e.name;
  const double D = double(c.dim);
  if (ends(n, "tid2eid")) return {InitRule::Tid2eid};
  if (n == "embed.weight") return {InitRule::Normal, 0, 1};
  if (n == "head.weight") return {InitRule::Normal, 0, 3 / std::sqrt(D)};
  if (ends(n, "_fn")) return {InitRule::Normal, 0, 1 / std::sqrt(double(c.hc_mult) * D)};
  if (ends(n, "hc_head_base")) return {InitRule::Uniform, 0, 0.35};
  if (ends(n, "_base")) return {InitRule::Normal, 0.25, 2.2};  // mHC far from symmetric
  if (ends(n, "hc_head_scale")) return {InitRule::Constant, 0.6};
  if (ends(n, "_scale") && has(n, "hc_")) return {InitRule::Uniform, 0.55, 1.45};
  if (ends(n, "attn_sink")) return {InitRule::Uniform, 0.75, 3.5};  // sinks take real mass
  if (ends(n, ".ape")) return {InitRule::Normal, 0, 0.7};
  if (ends(n, "ffn.gate.bias")) return {InitRule::Normal, 0.15, 0.7};  // changes selections
  if (ends(n, "ffn.gate.weight")) return {InitRule::Normal, 0, 2 / std::sqrt(D)};
  if (ends(n, "norm.weight")) {
    const bool wide = has(n, "kv_norm") || (has(n, "attn.compressor.norm") && !has(n, "indexer"));
    return wide ? InitRule{InitRule::Normal, 1.6, 0.2} : InitRule{InitRule::Normal, 1.0, 0.1};
  }
  if (ends(n, "compressor.wgate.weight")) return {InitRule::Normal, 0, 1.5 / std::sqrt(D)};
  if (ends(n, "weights_proj.weight")) return {InitRule::Normal, 0.5 / std::sqrt(D), 1 / std::sqrt(D)};
  const double fan_in = double(e.shape.back() * (e.dtypes.front() == DType::I8 ? 2 : 1));
  const std::string module = n.substr(0, n.rfind('.'));
  return {InitRule::Normal, 0, linear_gain(module) / std::sqrt(fan_in)};
}

ModelConfig synthetic_config(const SyntheticOptions& o) {
  ModelConfig c;
  if (o.preset == "tiny") c = tiny_preset();
  else if (o.preset == "small") c = small_preset();
  else if (o.preset == "demo") c = demo_preset();
  else if (o.preset == "flash" || o.preset == "pro") c = real_preset(o.preset == "pro");
  else throw ModelError("make-model: unknown preset '" + o.preset + "' (expected tiny, small, demo, flash or pro)");
  const int64_t full = c.n_layers;
  if (o.layers == 0 || o.layers < -1 || o.layers > full)
    throw ModelError("make-model: --layers " + std::to_string(o.layers) + " outside [1, " + std::to_string(full) +
                     "] for preset " + o.preset);
  if (o.layers > 0) c.n_layers = o.layers;
  c.n_hash_layers = std::min(c.n_hash_layers, c.n_layers);
  c.compress_ratios = preset_ratios(o.preset, c.n_layers);
  c.expert_dtype = o.experts;
  c.source = "make-model --preset " + o.preset;
  // Round trip through the parser: the preset must satisfy every rule a loaded config does.
  return parse_model_config(model_config_to_json(c), c.source);
}

WeightFormats synthetic_formats(const SyntheticOptions& o) {
  if (o.experts == ExpertDtype::FP8) return {ExpertDtype::FP8, DType::F32};  // Base checkpoints (§2.6)
  return {ExpertDtype::FP4, DType::F8_E8M0};
}

uint64_t ShardPlan::bytes() const {
  uint64_t n = 0;
  for (const auto& s : specs) n += s.nbytes();
  return n;
}

std::vector<ShardPlan> plan_shards(const ModelConfig& c, const WeightFormats& f) {
  const auto split = split_inventory(c, f);
  std::vector<ShardPlan> plans;
  for (size_t i = 0; i < split.size(); ++i) {
    ShardPlan p;
    p.file = shard_name(i, split.size());
    for (const auto& e : split[i]) p.specs.push_back({e.name, e.dtypes.front(), e.shape});
    plans.push_back(std::move(p));
  }
  return plans;
}

void write_synthetic_model(const SyntheticOptions& o, const fs::path& out, bool overwrite, const ProgressFn& progress) {
  const ModelConfig c = synthetic_config(o);
  const WeightFormats f = synthetic_formats(o);
  const auto split = split_inventory(c, f);
  const auto plans = plan_shards(c, f);
  uint64_t total = 0;
  for (const auto& p : plans) total += p.bytes();
  prepare_out_dir(out, overwrite);
  check_disk_space(out, total);
  nlohmann::json cfg = model_config_to_json(c);
  write_json(out / "config.json", cfg);
  write_json(out / "generation_config.json",
             {{"_from_model_config", true}, {"bos_token_id", c.bos_token_id}, {"eos_token_id", c.eos_token_id},
              {"do_sample", true}, {"temperature", 1.0}, {"top_p", 1.0}});
  Progress counter(total, progress);
  write_shards_in_parallel(plans.size(), [&](size_t i) { write_shard(out, plans[i], split[i], c, o.seed, counter); });
  std::map<std::string, std::string> weight_map;
  for (const auto& p : plans)
    for (const auto& s : p.specs) weight_map[s.name] = p.file;
  write_safetensors_index(out / "model.safetensors.index.json", weight_map, total);
  if (!o.tokenizer.empty()) copy_tokenizer(o.tokenizer, out);
  // Self-check: what we wrote must load and match the inventory.
  require_inventory(load_model_config(out), Checkpoint::open(out));
}

}  // namespace dsv4
