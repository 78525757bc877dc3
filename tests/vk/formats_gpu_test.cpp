// Every code point of e4m3fn, e2m1, e8m0 and bf16 decoded on the GPU by shaders/common/formats.glsl
// and compared bit for bit with the C++ decoders of weights/formats.h (NaN must be NaN on both
// sides; its payload may differ); likewise the fp16 encodings the cooperative-matrix GEMMs stage,
// which lavapipe (no cooperative matrices) would otherwise never run.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "common/vk_harness.h"
#include "vk/kernel.h"
#include "vk/recording.h"
#include "weights/formats.h"

namespace dsv4::test {
namespace {

struct Format {
  const char* name;
  uint32_t id;           // the shader's `format` push constant
  uint32_t count;        // code points
  uint32_t bits;         // bits per code
  float (*decode)(uint32_t code);
};

const Format kFormats[] = {
    {"e4m3fn", 0, 256, 8, [](uint32_t c) { return formats::e4m3_to_float(uint8_t(c)); }},
    {"e2m1", 1, 16, 4, [](uint32_t c) { return formats::e2m1_to_float(uint8_t(c)); }},
    {"e8m0", 2, 256, 8, [](uint32_t c) { return formats::e8m0_to_float(uint8_t(c)); }},
    {"bf16", 3, 65536, 16, [](uint32_t c) { return formats::bf16_to_float(uint16_t(c)); }},
};

// Codes 0..count-1 packed little-endian into words, `bits` per code (the checkpoint layouts).
std::vector<uint32_t> pack_all_codes(const Format& f) {
  std::vector<uint32_t> words((f.count * f.bits + 31) / 32, 0);
  for (uint32_t c = 0; c < f.count; ++c) {
    const uint64_t bit = uint64_t(c) * f.bits;
    words[bit / 32] |= c << (bit % 32);
  }
  return words;
}

class FormatsGpuTest : public VulkanTest {
 protected:
  // Runs shaders/test/half_codes.comp for `format` over `invocations`; returns its output words.
  std::vector<uint32_t> half_codes(uint32_t format, uint32_t invocations, uint32_t words) {
    vk::Kernel k(device(), {"test/half_codes", 1, 8, {}, 0});
    vk::Buffer out = vk::Buffer::create(device(), uint64_t(words) * 4, vk::MemoryKind::DeviceLocal, "half codes");
    vk::Recording rec(device(), {{&k,
                                  {{out.range(), vk::Access::Write}},
                                  {format, invocations},
                                  {(invocations + 63) / 64, 1, 1},
                                  std::nullopt,
                                  "half_codes"}});
    rec.run();
    return download<uint32_t>(out, words);
  }
};

TEST_F(FormatsGpuTest, EveryCodePointMatchesTheCppDecoder) {
  vk::Kernel decode(device(), {"test/decode_formats", 2, 8, {}, 0});
  std::vector<vk::Buffer> codes, values;
  std::vector<vk::Dispatch> dispatches;
  for (const Format& f : kFormats) {
    codes.push_back(upload(pack_all_codes(f), f.name));
    values.push_back(vk::Buffer::create(device(), f.count * 4ull, vk::MemoryKind::DeviceLocal, f.name));
    const uint32_t push[2] = {f.id, f.count};
    dispatches.push_back({&decode,
                          {{codes.back().range(), vk::Access::Read}, {values.back().range(), vk::Access::Write}},
                          {push[0], push[1]},
                          {(f.count + 63) / 64, 1, 1},
                          std::nullopt,
                          f.name});
  }
  vk::Recording rec(device(), std::move(dispatches));
  rec.run();

  for (size_t i = 0; i < std::size(kFormats); ++i) {
    const Format& f = kFormats[i];
    const std::vector<uint32_t> gpu = download<uint32_t>(values[i], f.count);
    int mismatches = 0, nans = 0;
    for (uint32_t c = 0; c < f.count; ++c) {
      const float want = f.decode(c);
      const float got = std::bit_cast<float>(gpu[c]);
      if (std::isnan(want)) {
        ++nans;
        EXPECT_TRUE(std::isnan(got)) << f.name << " code " << c << ": GPU " << got << ", want NaN";
        continue;
      }
      if (gpu[c] != std::bit_cast<uint32_t>(want) && ++mismatches <= 5)
        ADD_FAILURE() << f.name << " code 0x" << std::hex << c << ": GPU bits 0x" << gpu[c] << " (" << got
                      << "), C++ bits 0x" << std::bit_cast<uint32_t>(want) << " (" << want << ")";
    }
    EXPECT_EQ(mismatches, 0) << f.name;
    // Independent facts from model-spec §2.3: NaN codes per format.
    const int want_nans = f.id == 0 ? 2 : f.id == 1 ? 0 : f.id == 2 ? 1 : 2 * 127;
    EXPECT_EQ(nans, want_nans) << f.name;
  }
}

TEST_F(FormatsGpuTest, HandPickedValues) {
  // Values from the spec's definitions, independent of weights/formats.h.
  vk::Kernel decode(device(), {"test/decode_formats", 2, 8, {}, 0});
  struct Case { uint32_t format, code; float want; };
  const Case cases[] = {
      {0, 0x7e, 448.f}, {0, 0xfe, -448.f}, {0, 0x01, 0x1p-9f}, {0, 0x07, 7 * 0x1p-9f}, {0, 0x08, 0x1p-6f},
      {0, 0x38, 1.f}, {0, 0x80, -0.f}, {1, 7, 6.f}, {1, 9, -0.5f}, {1, 8, -0.f}, {2, 127, 1.f},
      {2, 0, 0x1p-127f}, {2, 254, 0x1p127f}, {3, 0x3f80, 1.f}, {3, 0xc2f7, -123.5f}, {3, 0x0001, 0x1p-133f},
  };
  for (const Case& c : cases) {
    vk::Buffer codes = upload(std::vector<uint32_t>{c.code}, "code");
    vk::Buffer out = vk::Buffer::create(device(), 4, vk::MemoryKind::DeviceLocal, "value");
    vk::Recording rec(device(), {{&decode,
                                  {{codes.range(), vk::Access::Read}, {out.range(), vk::Access::Write}},
                                  {c.format, 1},
                                  {1, 1, 1},
                                  std::nullopt,
                                  "decode"}});
    rec.run();
    const uint32_t got = download<uint32_t>(out, 1)[0];
    EXPECT_EQ(got, std::bit_cast<uint32_t>(c.want)) << "format " << c.format << " code 0x" << std::hex << c.code;
  }
}

TEST_F(FormatsGpuTest, E2m1HalfEncodingIsExactForEveryCodeAndScale) {
  // e2m1x8_half_bits: words whose bytes all hold the same two codes, every pair (256 words): word k
  // of the four holds codes k and k + 4 of the eight. Each fp16 must read e2m1 * 2^-14, and its
  // product with the coopmat MoE's scale factor 2^(14 + j), -23 <= j <= 1, must be an fp16 (a
  // multiple of 2^-24 below 65504), so that the shader's fp16 multiply is exact.
  const std::vector<uint32_t> got = half_codes(0, 256, 4 * 256);
  int bad = 0;
  for (uint32_t i = 0; i < 256; ++i) {
    for (int k = 0; k < 4; ++k) {
      for (int lane = 0; lane < 2; ++lane) {
        const int nibble = k + 4 * lane;  // byte nibble / 2, low nibble first
        const uint8_t code = uint8_t(nibble % 2 == 0 ? i % 16 : i / 16);
        const uint16_t h = uint16_t(got[4 * i + size_t(k)] >> (16 * lane));
        const float value = formats::e2m1_to_float(code);
        if (formats::f16_to_float(h) != std::ldexp(value, -14) || ((h & 0x8000u) != 0) != ((code & 8) != 0)) {
          if (++bad <= 5) ADD_FAILURE() << "word " << i << " code " << int(code) << " at " << nibble << ": fp16 0x" << std::hex << h;
          continue;
        }
        for (int j = -23; j <= 1; ++j) {
          const double scaled = double(formats::f16_to_float(h)) * std::ldexp(1.0, 14 + j);
          EXPECT_EQ(scaled, std::ldexp(double(value), j));
          EXPECT_LE(std::fabs(scaled), 65504.0);
          EXPECT_EQ(std::fmod(std::ldexp(scaled, 24), 1.0), 0.0) << "code " << int(code) << " j " << j;
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(FormatsGpuTest, E4m3HalfEncodingIsTheValueTimes2ToTheMinus8) {
  // e4m3x4_half_bits: every finite code in every byte position of a word.
  const std::vector<uint32_t> got = half_codes(1, 256, 512);
  int bad = 0;
  for (uint32_t i = 0; i < 256; ++i) {
    const uint32_t w = (i * 0x01010101u) ^ (i << 8);
    for (int b = 0; b < 4; ++b) {
      const uint8_t code = uint8_t(w >> (8 * b));
      if ((code & 0x7f) == 0x7f) continue;  // NaN codes: never in checkpoints
      // Word 0 holds bytes 0 and 1, word 1 bytes 2 and 3, each in fp16 lane order.
      const uint16_t h = uint16_t(got[2 * i + b / 2] >> (16 * (b % 2)));
      const float want = std::ldexp(formats::e4m3_to_float(code), -8);
      if (formats::f16_to_float(h) != want && ++bad <= 5)
        ADD_FAILURE() << "code 0x" << std::hex << int(code) << " byte " << b << ": fp16 0x" << h;
    }
  }
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace dsv4::test
