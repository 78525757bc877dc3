#include "gpu/common/gpu_test_helpers.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "weights/formats.h"

namespace dsv4::test {

namespace fm = dsv4::formats;

namespace {

vk::Buffer upload_bytes(vk::Device& device, vk::StagingRing& staging, const std::vector<uint8_t>& bytes,
                        const std::string& what) {
  vk::Buffer b = vk::Buffer::create(device, std::max<uint64_t>(16, (bytes.size() + 15) / 16 * 16),
                                    vk::MemoryKind::DeviceLocal, what);
  if (!bytes.empty()) staging.upload(b, 0, bytes.data(), bytes.size());
  return b;
}

}  // namespace

RandomMatrix random_matrix(vk::Device& device, vk::StagingRing& staging, graph::WeightFormat format, int64_t rows,
                           int64_t cols, uint32_t seed, int64_t count, ScaleRange scales, float sd) {
  std::mt19937 rng(seed);
  RandomMatrix m;
  gpu::DeviceMatrix& d = m.device;
  d.name = "random";
  d.format = format;
  d.rows = rows;
  d.cols = cols;
  d.count = count;
  std::vector<uint8_t> data(size_t(d.data_stride() * uint64_t(count)), 0);
  std::vector<uint8_t> scale(size_t(d.scale_stride() * uint64_t(count)), 0);
  std::uniform_int_distribution<int> byte(0, 255), nib(0, 15), sc(scales.lo, scales.hi);
  std::normal_distribution<float> normal(0.f, sd);
  for (int64_t e = 0; e < count; ++e) {
    graph::Weight w;
    w.name = "random." + std::to_string(e);
    w.format = format;
    w.rows = rows;
    w.cols = cols;
    w.values.resize(size_t(rows * cols));
    uint8_t* dp = data.data() + e * d.data_stride();
    uint8_t* sp = scale.data() + e * d.scale_stride();
    if (format == graph::WeightFormat::FP8) {
      const int64_t sr = (rows + 127) / 128, scl = (cols + 127) / 128;
      std::vector<float> s(size_t(sr * scl));
      for (float& v : s) v = fm::e8m0_to_float(uint8_t(sc(rng)));
      std::memcpy(sp, s.data(), s.size() * 4);
      for (int64_t i = 0; i < rows * cols; ++i) {
        uint8_t c;
        do c = uint8_t(byte(rng)); while ((c & 0x7f) == 0x7f);
        dp[i] = c;
        w.values[size_t(i)] = fm::e4m3_to_float(c) * s[size_t((i / cols / 128) * scl + (i % cols) / 128)];
      }
    } else if (format == graph::WeightFormat::FP4) {
      const int64_t spr = (cols + 31) / 32;
      for (int64_t i = 0; i < rows * spr; ++i) sp[i] = scales.per_row && i % spr != 0 ? sp[i - 1] : uint8_t(sc(rng));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const uint8_t n = uint8_t(nib(rng));
          dp[(r * cols + c) / 2] |= uint8_t((c & 1) ? n << 4 : n);
          w.values[size_t(r * cols + c)] = fm::e2m1_to_float(n) * fm::e8m0_to_float(sp[r * spr + c / 32]);
        }
    } else if (format == graph::WeightFormat::BF16) {
      for (int64_t i = 0; i < rows * cols; ++i) {
        const uint16_t b = fm::float_to_bf16(normal(rng));
        std::memcpy(dp + 2 * i, &b, 2);
        w.values[size_t(i)] = fm::bf16_to_float(b);
      }
    } else {
      for (int64_t i = 0; i < rows * cols; ++i) {
        const float v = normal(rng);
        std::memcpy(dp + 4 * i, &v, 4);
        w.values[size_t(i)] = v;
      }
    }
    m.host.push_back(std::move(w));
  }
  m.data = upload_bytes(device, staging, data, "random matrix");
  d.data = m.data.range(0, data.size());
  if (!scale.empty()) {
    m.scale = upload_bytes(device, staging, scale, "random matrix scales");
    d.scale = m.scale.range(0, scale.size());
  }
  return m;
}

std::vector<float> random_bf16(size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = fm::round_bf16(normal(rng));
  return v;
}

StepBuffers make_step(vk::Device& device, vk::StagingRing& staging, const std::vector<gpu::StepRow>& rows,
                      uint32_t max_rows, const gpu::RopeSlots& slots) {
  StepBuffers s;
  s.max_rows = max_rows;
  const std::vector<uint8_t> bytes = gpu::encode_step(rows, max_rows, slots);
  s.step = vk::Buffer::create(device, gpu::step_buffer_bytes(max_rows), vk::MemoryKind::DeviceLocal, "step");
  staging.upload(s.step, 0, bytes.data(), bytes.size());
  std::vector<float> rope(gpu::rope_buffer_bytes(slots, max_rows) / 4, 0.f);
  slots.fill(rows, rope);
  s.rope = vk::Buffer::create(device, std::max<uint64_t>(16, rope.size() * 4), vk::MemoryKind::DeviceLocal, "rope");
  if (!rope.empty()) staging.upload(s.rope, 0, rope.data(), rope.size() * 4);
  return s;
}

void GpuOpTest::SetUp() {
  VulkanTest::SetUp();
  ctx_ = std::make_unique<gpu::Context>(device());
}

void GpuOpTest::TearDown() {
  ctx_.reset();
  VulkanTest::TearDown();
}

void GpuOpTest::run(std::vector<vk::Dispatch> dispatches) {
  vk::Recording rec(device(), std::move(dispatches));
  rec.run();
}

vk::Buffer GpuOpTest::zeros(uint64_t bytes, const char* what) {
  std::vector<uint8_t> z(size_t(std::max<uint64_t>(16, (bytes + 15) / 16 * 16)), 0);
  vk::Buffer b = vk::Buffer::create(device(), z.size(), vk::MemoryKind::DeviceLocal, what);
  staging().upload(b, 0, z.data(), z.size());
  return b;
}

float rel_err(float a, float b, float floor) { return std::fabs(a - b) / std::max(std::fabs(b), floor); }

}  // namespace dsv4::test
