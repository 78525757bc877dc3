#include "graph/vulkan/device_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "vk/staging.h"
#include "weights/dequant.h"
#include "weights/error.h"
#include "weights/formats.h"
#include "weights/tensor_check.h"

namespace dsv4::gpu {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Bytes scanned for NaN/Inf per step of a tensor's upload, so they are still in cache when the
// staging ring copies them; large, because each upload call waits for its copy (most tensors,
// e.g. one Flash expert's 4 MiB, take one step). A multiple of every element size.
constexpr uint64_t kScanChunk = 8ull << 20;

WeightFormat format_of(const TensorInfo& t) {
  switch (t.dtype) {
    case DType::F8_E4M3: return WeightFormat::FP8;
    case DType::I8: return WeightFormat::FP4;
    case DType::BF16: return WeightFormat::BF16;
    case DType::F16:  // widened to F32 at upload (exact)
    case DType::F32: return WeightFormat::F32;
    default: throw ModelError("tensor " + t.name + ": unsupported dtype " + dtype_name(t.dtype) + " for a weight");
  }
}

// Rows [first, first + rows) of a matrix as a matrix of their own (DeviceModel::Uploader::concat_rows:
// `first` starts a row block of the scales).
DeviceMatrix rows_view(const DeviceMatrix& whole, int64_t first, int64_t rows, const std::string& name) {
  DeviceMatrix above = whole, m = whole;
  above.rows = first;
  m.name = name;
  m.rows = rows;
  m.data = {whole.data.buffer, whole.data.offset + above.data_stride(), m.data_stride()};
  if (whole.scale.size > 0) m.scale = {whole.scale.buffer, whole.scale.offset + above.scale_stride(), m.scale_stride()};
  return m;
}

}  // namespace

// Streams tensors from the mapped checkpoint into device buffers placed by an Arena.
class DeviceModel::Uploader {
 public:
  Uploader(vk::Device& device, const Checkpoint& ckpt, std::vector<vk::Buffer>& buffers, const ProgressFn& progress)
      : ckpt_(ckpt),
        align_(std::max<uint64_t>(1, device.caps().min_storage_buffer_offset_alignment)),
        // Blocks of up to 1 GiB, no larger than the model needs (FP8 scales grow 4x as fp32).
        arena_(device, vk::MemoryKind::DeviceLocal,
               std::clamp<uint64_t>(ckpt.total_bytes() + ckpt.total_bytes() / 16 + (16ull << 20), 64ull << 20, 1ull << 30),
               "model weights"),
        staging_(device, 32ull << 20),
        buffers_(buffers),
        progress_(progress),
        start_(std::chrono::steady_clock::now()) {
    progress_state_.total = ckpt.total_bytes();
  }

  // A linear weight `<module>.weight` [rows, cols] (+ `<module>.scale` when quantised).
  DeviceMatrix matrix(const std::string& module, int64_t rows, int64_t cols) {
    return stack({module}, rows, cols);
  }

  // `modules` stacked back to back (routed experts); all must share dtype and shape.
  DeviceMatrix stack(const std::vector<std::string>& modules, int64_t rows, int64_t cols) {
    const TensorInfo& first = ckpt_.at(modules.front() + ".weight");
    DeviceMatrix m;
    m.name = modules.size() == 1 ? first.name : modules.front() + ".weight (x" + std::to_string(modules.size()) + ")";
    m.format = format_of(first);
    m.rows = rows;
    m.cols = cols;
    m.count = int64_t(modules.size());
    vk::Buffer& data = allocate(m.data_stride() * uint64_t(m.count), m.name);
    m.data = data.range();
    vk::Buffer* scale = nullptr;
    if (m.scale_stride() > 0) {
      scale = &allocate(m.scale_stride() * uint64_t(m.count), m.name + " scales");
      m.scale = scale->range();
    }
    for (size_t e = 0; e < modules.size(); ++e) {
      const TensorInfo& t = ckpt_.at(modules[e] + ".weight");
      check_matrix(t, m);
      upload_values(t, data, e * m.data_stride());
      if (scale) upload_scale(ckpt_.at(modules[e] + ".scale"), m, *scale, e * m.scale_stride());
    }
    return m;
  }

  // `modules` ([rows[e], cols] each, one format) as one matrix of all their rows, so that one GEMV
  // computes all of them from their shared input; `members` become views into it. Where a member
  // would not start at a row block of the FP8 scales, or at an offset the device can bind, the
  // modules are uploaded apart and the matrix returned has rows 0.
  DeviceMatrix concat_rows(const std::vector<std::string>& modules, const std::vector<int64_t>& rows, int64_t cols,
                           std::vector<DeviceMatrix>& members) {
    members.clear();
    DeviceMatrix whole;
    whole.format = format_of(ckpt_.at(modules.front() + ".weight"));
    whole.cols = cols;
    for (size_t e = 0; e < modules.size(); ++e) {
      DeviceMatrix m = whole;
      m.rows = rows[e];
      const bool last = e + 1 == modules.size();
      const bool abuts = last || ((whole.format != WeightFormat::FP8 || m.rows % 128 == 0) &&
                                  m.data_stride() == data_bytes(m.format, m.rows, m.cols) &&
                                  m.scale_stride() == scale_bytes(m.format, m.rows, m.cols));
      // whole: the members before this one (no rows: no bytes), so its strides are this one's offsets.
      if (!abuts || whole.data_stride() % align_ != 0 || whole.scale_stride() % align_ != 0 ||
          format_of(ckpt_.at(modules[e] + ".weight")) != whole.format) {
        for (size_t i = 0; i < modules.size(); ++i) members.push_back(matrix(modules[i], rows[i], cols));
        return DeviceMatrix{};
      }
      whole.rows += m.rows;
    }
    whole.name = modules.front() + ".weight";
    for (size_t e = 1; e < modules.size(); ++e) whole.name += " + " + modules[e] + ".weight";
    vk::Buffer& data = allocate(whole.data_stride(), whole.name);
    whole.data = data.range();
    vk::Buffer* scale = whole.scale_stride() > 0 ? &allocate(whole.scale_stride(), whole.name + " scales") : nullptr;
    if (scale) whole.scale = scale->range();
    int64_t first = 0;
    for (size_t e = 0; e < modules.size(); ++e) {
      const TensorInfo& t = ckpt_.at(modules[e] + ".weight");
      const DeviceMatrix m = rows_view(whole, first, rows[e], t.name);
      check_matrix(t, m);
      upload_values(t, data, m.data.offset - whole.data.offset);
      if (scale) upload_scale(ckpt_.at(modules[e] + ".scale"), m, *scale, m.scale.offset - whole.scale.offset);
      members.push_back(m);
      first += rows[e];
    }
    return whole;
  }

  // A BF16/F32 vector or matrix kept in its dtype (F16 widened to F32), viewed as [rows, cols].
  DeviceMatrix plain(const std::string& name, int64_t rows, int64_t cols) {
    const TensorInfo& t = ckpt_.at(name);
    if (t.numel() != rows * cols) {
      throw ModelError("tensor " + name + ": shape " + shape_str(t.shape) + " does not match the config (" +
                       std::to_string(rows * cols) + " values expected)");
    }
    DeviceMatrix m;
    m.name = name;
    m.format = format_of(t);
    if (m.format != WeightFormat::BF16 && m.format != WeightFormat::F32)
      throw ModelError("tensor " + name + ": expected BF16/F16/F32, found " + dtype_name(t.dtype));
    m.rows = rows;
    m.cols = cols;
    vk::Buffer& b = allocate(m.data_stride(), name);
    m.data = b.range();
    upload_values(t, b, 0);
    return m;
  }

  // An I64 id table as int32 (tid2eid), stored with F32 element size.
  DeviceMatrix ids(const std::string& name, int64_t rows, int64_t cols, int64_t limit) {
    const TensorInfo& t = ckpt_.at(name);
    const std::vector<int64_t> v = to_int64(ckpt_.checked_view(t));
    ckpt_.check_unchanged(t);
    if (int64_t(v.size()) != rows * cols)
      throw ModelError("tensor " + name + ": shape " + shape_str(t.shape) + " does not match the config");
    std::vector<int32_t> narrow(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || v[i] >= limit) throw ModelError("tensor " + name + ": id " + std::to_string(v[i]) + " out of range");
      narrow[i] = int32_t(v[i]);
    }
    DeviceMatrix m;
    m.name = name;
    m.format = WeightFormat::F32;
    m.rows = rows;
    m.cols = cols;
    vk::Buffer& b = allocate(m.data_stride(), name);
    m.data = b.range();
    staging_.upload(b, 0, narrow.data(), narrow.size() * 4);
    advance(t.nbytes);
    return m;
  }

  uint64_t bytes() const { return arena_.allocated_bytes(); }
  // The last progress report says everything is there (MTP tensors are in the total, not loaded).
  void finish() {
    progress_state_.done = progress_state_.total;
    advance(0);
  }

 private:
  vk::Buffer& allocate(uint64_t bytes, const std::string& what) {
    buffers_.push_back(arena_.allocate(std::max<uint64_t>(bytes, 16), what));
    return buffers_.back();
  }

  static void check_matrix(const TensorInfo& t, const DeviceMatrix& m) {
    const TensorView v{t.dtype, t.shape, {}};
    if (format_of(t) != m.format || t.shape.size() != 2 || logical_rows(v) != m.rows || logical_cols(v) != m.cols) {
      throw ModelError("tensor " + t.name + ": " + dtype_name(t.dtype) + " " + shape_str(t.shape) +
                       " does not match the config (logical [" + std::to_string(m.rows) + ", " +
                       std::to_string(m.cols) + "], like its siblings)");
    }
  }

  // The same checks as the CPU loader's Checkpoint::checked_view (file unchanged, no NaN/Inf),
  // but the value scan runs chunk by chunk just before the staging copy, while the chunk is
  // still in cache; the file is re-checked once the tensor is streamed.
  void upload_values(const TensorInfo& t, vk::Buffer& b, uint64_t offset) {
    if (t.dtype == DType::F16) {  // exact widening
      const TensorView v = ckpt_.checked_view(t);
      std::vector<float> f(size_t(t.numel()));
      to_float_rows(v, 0, t.numel() / (t.shape.empty() ? 1 : t.shape.back()), f.data());
      staging_.upload(b, offset, f.data(), f.size() * 4);
    } else {
      ckpt_.check_unchanged(t);
      const std::span<const std::byte> bytes = ckpt_.data(t);
      const uint64_t elem = dtype_size(t.dtype);
      for (uint64_t at = 0; at < bytes.size(); at += kScanChunk) {
        const std::span<const std::byte> chunk = bytes.subspan(size_t(at), size_t(std::min<uint64_t>(kScanChunk, bytes.size() - at)));
        check_finite(t, chunk, at / elem);
        staging_.upload(b, offset + at, chunk.data(), chunk.size());
      }
    }
    ckpt_.check_unchanged(t);
    advance(t.nbytes);
  }

  // FP8 scales become fp32 (E8M0 decoded exactly, F32 as stored); FP4 scales stay e8m0 bytes.
  void upload_scale(const TensorInfo& s, const DeviceMatrix& m, vk::Buffer& b, uint64_t offset) {
    const std::span<const std::byte> bytes = ckpt_.checked_data(s);
    if (m.format == WeightFormat::FP4) {
      if (s.dtype != DType::F8_E8M0 || uint64_t(s.numel()) != scale_bytes(m.format, m.rows, m.cols))
        throw ModelError("tensor " + s.name + ": expected F8_E8M0 [" + std::to_string(m.rows) + ", " +
                         std::to_string((m.cols + 31) / 32) + "], found " + dtype_name(s.dtype) + " " + shape_str(s.shape));
      staging_.upload(b, offset, bytes.data(), bytes.size());
    } else {
      const uint64_t n = scale_bytes(m.format, m.rows, m.cols) / 4;
      if (uint64_t(s.numel()) != n || (s.dtype != DType::F8_E8M0 && s.dtype != DType::F32))
        throw ModelError("tensor " + s.name + ": expected E8M0 or F32 block scales [" +
                         std::to_string((m.rows + 127) / 128) + ", " + std::to_string((m.cols + 127) / 128) +
                         "], found " + dtype_name(s.dtype) + " " + shape_str(s.shape));
      std::vector<float> f(n);
      for (uint64_t i = 0; i < n; ++i) {
        if (s.dtype == DType::F32) std::memcpy(&f[i], bytes.data() + 4 * i, 4);
        else f[i] = formats::e8m0_to_float(uint8_t(bytes[i]));
      }
      staging_.upload(b, offset, f.data(), f.size() * 4);
    }
    ckpt_.check_unchanged(s);
    advance(s.nbytes);
  }

  void advance(uint64_t bytes) {
    progress_state_.done += bytes;
    if (!progress_) return;
    progress_state_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    progress_(progress_state_);
  }

  const Checkpoint& ckpt_;
  uint64_t align_;  // of a storage-buffer binding's offset
  vk::Arena arena_;
  vk::StagingRing staging_;
  std::vector<vk::Buffer>& buffers_;
  const ProgressFn& progress_;
  LoadProgress progress_state_;
  std::chrono::steady_clock::time_point start_;
};

DeviceModel::DeviceModel(vk::Device& device, const ModelDir& dir, const ProgressFn& progress) : cfg_(dir.config) {
  const ModelConfig& c = cfg_;
  buffers_.reserve(64 + size_t(c.n_layers) * 64);
  Uploader u(device, dir.checkpoint, buffers_, progress);
  auto hc = [&](const std::string& p, int64_t mix, int64_t scales) {
    return DeviceHc{u.plain(p + "_fn", mix, c.hc_mult * c.dim), u.plain(p + "_base", 1, mix), u.plain(p + "_scale", 1, scales)};
  };
  // A layer's compressors (model-spec §3.5.4; the indexer's too on ratio-4 layers): each one's wkv
  // and wgate back to back, and all of them one matrix (one decode GEMV over x).
  auto compressors = [&](const std::string& at, int64_t ratio, DeviceAttention& a) {
    const int64_t coff = ratio == 4 ? 2 : 1, main_rows = coff * c.head_dim, index_rows = coff * c.index_head_dim;
    const std::string mp = at + ".compressor", ip = at + ".indexer.compressor";
    std::vector<std::string> modules{mp + ".wkv", mp + ".wgate"};
    std::vector<int64_t> rows{main_rows, main_rows};
    if (ratio == 4) {
      modules.insert(modules.end(), {ip + ".wkv", ip + ".wgate"});
      rows.insert(rows.end(), {index_rows, index_rows});
    }
    std::vector<DeviceMatrix> w;
    const DeviceMatrix whole = u.concat_rows(modules, rows, c.dim, w);
    const auto pair = [&](int64_t first, int64_t n, const std::string& p) {
      return whole.rows > 0 ? rows_view(whole, first, 2 * n, p + ".wkv + wgate") : DeviceMatrix{};
    };
    a.compressor = DeviceCompressor{w[0], w[1], u.plain(mp + ".ape", ratio, main_rows), u.plain(mp + ".norm.weight", 1, c.head_dim),
                                    pair(0, main_rows, mp)};
    if (ratio != 4) return;
    a.index_compressor = DeviceCompressor{w[2], w[3], u.plain(ip + ".ape", ratio, index_rows),
                                          u.plain(ip + ".norm.weight", 1, c.index_head_dim), pair(2 * main_rows, index_rows, ip)};
    a.compressors = whole;
  };
  embed = u.matrix("embed", c.vocab_size, c.dim);
  head = u.matrix("head", c.vocab_size, c.dim);
  norm = u.plain("norm.weight", 1, c.dim);
  hc_head = hc("hc_head", c.hc_mult, 1);
  const int64_t hd = c.n_heads * c.head_dim;
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "layers." + std::to_string(i);
    DeviceBlock b;
    b.attn_norm = u.plain(p + ".attn_norm.weight", 1, c.dim);
    b.ffn_norm = u.plain(p + ".ffn_norm.weight", 1, c.dim);
    b.hc_attn = hc(p + ".hc_attn", c.hc_mix_width(), 3);
    b.hc_ffn = hc(p + ".hc_ffn", c.hc_mix_width(), 3);
    DeviceAttention& a = b.attn;
    const std::string at = p + ".attn";
    std::vector<DeviceMatrix> qkv;
    a.wq_a_wkv = u.concat_rows({at + ".wq_a", at + ".wkv"}, {c.q_lora_rank, c.head_dim}, c.dim, qkv);
    a.wq_a = qkv[0];
    a.wkv = qkv[1];
    a.q_norm = u.plain(at + ".q_norm.weight", 1, c.q_lora_rank);
    a.wq_b = u.matrix(at + ".wq_b", hd, c.q_lora_rank);
    a.kv_norm = u.plain(at + ".kv_norm.weight", 1, c.head_dim);
    a.wo_a = u.matrix(at + ".wo_a", c.o_groups * c.o_lora_rank, hd / c.o_groups);
    a.wo_b = u.matrix(at + ".wo_b", c.dim, c.o_groups * c.o_lora_rank);
    a.attn_sink = u.plain(at + ".attn_sink", 1, c.n_heads);
    const int64_t ratio = c.ratio(i);
    if (ratio > 0) {
      a.has_compressor = true;
      compressors(at, ratio, a);
    }
    if (ratio == 4) {
      a.has_indexer = true;
      a.index_wq_b = u.matrix(at + ".indexer.wq_b", c.index_n_heads * c.index_head_dim, c.q_lora_rank);
      a.index_weights_proj = u.matrix(at + ".indexer.weights_proj", c.index_n_heads, c.dim);
    }
    DeviceMoe& m = b.ffn;
    const std::string f = p + ".ffn";
    m.gate = u.matrix(f + ".gate", c.n_routed_experts, c.dim);
    if (c.is_hash_layer(i)) m.tid2eid = u.ids(f + ".gate.tid2eid", c.vocab_size, c.n_activated_experts, c.n_routed_experts);
    else m.bias = u.plain(f + ".gate.bias", 1, c.n_routed_experts);
    std::vector<std::string> w1, w2, w3;
    for (int64_t e = 0; e < c.n_routed_experts; ++e) {
      const std::string ex = f + ".experts." + std::to_string(e);
      w1.push_back(ex + ".w1");
      w2.push_back(ex + ".w2");
      w3.push_back(ex + ".w3");
    }
    m.w1 = u.stack(w1, c.moe_inter_dim, c.dim);
    m.w3 = u.stack(w3, c.moe_inter_dim, c.dim);
    m.w2 = u.stack(w2, c.dim, c.moe_inter_dim);
    m.s1 = u.matrix(f + ".shared_experts.w1", c.moe_inter_dim, c.dim);
    m.s3 = u.matrix(f + ".shared_experts.w3", c.moe_inter_dim, c.dim);
    m.s2 = u.matrix(f + ".shared_experts.w2", c.dim, c.moe_inter_dim);
    layers.push_back(std::move(b));
  }
  bytes_ = u.bytes();
  u.finish();
}

}  // namespace dsv4::gpu
