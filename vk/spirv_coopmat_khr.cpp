#include "vk/spirv_coopmat_khr.h"

#include <array>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace dsv4::vk {

namespace {

using spv::MatrixLayout;
using spv::MatrixUse;

struct Instruction {
  size_t at = 0;  // index of the first word
  uint32_t op = 0, count = 0;
};

[[noreturn]] void fail(const std::string& why) { throw SpirvRewriteError("SPIR-V NV -> KHR cooperative matrix: " + why); }

std::vector<Instruction> parse(std::span<const uint32_t> w) {
  if (w.size() < 5 || w[0] != spv::kMagic) fail("not a SPIR-V module (no header)");
  std::vector<Instruction> out;
  for (size_t at = 5; at < w.size();) {
    const uint32_t count = w[at] >> 16;
    if (count == 0 || at + count > w.size()) fail("malformed instruction at word " + std::to_string(at));
    out.push_back({at, w[at] & 0xffffu, count});
    at += count;
  }
  return out;
}

// Opcodes whose words 1 and 2 are a result type and a result id, among those that can produce a
// cooperative-matrix value (the NV extension allows the arithmetic, conversion and composite
// instructions below on matrices).
bool has_typed_result(uint32_t op) {
  static const std::unordered_set<uint32_t> ops = {
      1,   // OpUndef
      44,  // OpConstantComposite
      46,  // OpConstantNull
      51,  // OpSpecConstantComposite
      55,  // OpFunctionParameter
      57,  // OpFunctionCall
      61,  // OpLoad
      80,  // OpCompositeConstruct
      82,  // OpCompositeInsert
      83,  // OpCopyObject
      109, 110, 111, 112, 113, 114, 115, 116,  // conversions
      126, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136,  // negate, add, sub, mul, div
      143,  // OpMatrixTimesScalar
      169,  // OpSelect
      245,  // OpPhi
      spv::kOpCooperativeMatrixLoadNV,
      spv::kOpCooperativeMatrixMulAddNV,
  };
  return ops.count(op) != 0;
}

std::string role_name(MatrixUse u) {
  switch (u) {
    case MatrixUse::A: return "A";
    case MatrixUse::B: return "B";
    case MatrixUse::Accumulator: return "accumulator";
  }
  return "?";
}

// The use of every NV matrix type, from the operand positions of the multiply-adds.
std::unordered_map<uint32_t, MatrixUse> matrix_uses(std::span<const uint32_t> w, const std::vector<Instruction>& ins) {
  std::unordered_map<uint32_t, uint32_t> type_of;  // value id -> type id
  std::unordered_map<uint32_t, MatrixUse> use;
  for (const Instruction& i : ins) {
    if (i.op == spv::kOpTypeCooperativeMatrixNV) {
      if (i.count != 6) fail("OpTypeCooperativeMatrixNV with " + std::to_string(i.count) + " words");
      use.emplace(w[i.at + 1], MatrixUse::Accumulator);
    } else if (has_typed_result(i.op) && i.count >= 3) {
      type_of[w[i.at + 2]] = w[i.at + 1];
    }
  }
  std::unordered_map<uint32_t, MatrixUse> seen;
  auto assign = [&](uint32_t type, MatrixUse u, const char* what) {
    if (!use.count(type)) fail(std::string("the ") + what + " operand of a multiply-add is not an NV cooperative matrix");
    auto [it, fresh] = seen.emplace(type, u);
    if (!fresh && it->second != u) {
      fail("cooperative-matrix type %" + std::to_string(type) + " is used as " + role_name(it->second) + " and as " +
           role_name(u) + "; give each operand its own type (e.g. a specialization-constant K)");
    }
    use[type] = u;
  };
  auto operand_type = [&](uint32_t id) {
    const auto it = type_of.find(id);
    if (it == type_of.end()) fail("cannot find the type of %" + std::to_string(id) + ", a multiply-add operand");
    return it->second;
  };
  for (const Instruction& i : ins) {
    if (i.op != spv::kOpCooperativeMatrixMulAddNV) continue;
    if (i.count != 6) fail("OpCooperativeMatrixMulAddNV with " + std::to_string(i.count) + " words");
    assign(w[i.at + 1], MatrixUse::Accumulator, "result");
    assign(operand_type(w[i.at + 3]), MatrixUse::A, "A");
    assign(operand_type(w[i.at + 4]), MatrixUse::B, "B");
    assign(operand_type(w[i.at + 5]), MatrixUse::Accumulator, "C");
  }
  return use;
}

std::vector<uint32_t> encode_string(const std::string& s) {
  std::vector<uint32_t> words((s.size() + 4) / 4, 0u);  // includes the terminating NUL
  for (size_t i = 0; i < s.size(); ++i) words[i / 4] |= uint32_t(uint8_t(s[i])) << (8 * (i % 4));
  return words;
}

std::string decode_string(std::span<const uint32_t> words) {
  std::string s;
  for (uint32_t word : words) {
    for (int b = 0; b < 4; ++b) {
      const char c = char((word >> (8 * b)) & 0xffu);
      if (c == '\0') return s;
      s.push_back(c);
    }
  }
  fail("unterminated string literal");
}

uint32_t header(uint32_t op, size_t count) { return uint32_t(count << 16) | op; }

}  // namespace

std::vector<uint32_t> coopmat_nv_to_khr(std::span<const uint32_t> w) {
  const std::vector<Instruction> ins = parse(w);
  bool nv = false;
  for (const Instruction& i : ins)
    nv = nv || (i.op == spv::kOpCapability && i.count == 2 && w[i.at + 1] == spv::kCapabilityCooperativeMatrixNV);
  if (!nv) return {w.begin(), w.end()};

  const std::unordered_map<uint32_t, MatrixUse> use = matrix_uses(w, ins);
  std::unordered_map<uint32_t, bool> bool_constant;  // id -> value
  for (const Instruction& i : ins) {
    if ((i.op == spv::kOpConstantTrue || i.op == spv::kOpConstantFalse) && i.count == 3)
      bool_constant[w[i.at + 2]] = i.op == spv::kOpConstantTrue;
  }

  // Three new 32-bit integer constants 0, 1, 2 serve as uses and layouts; declared right after
  // the first 32-bit integer type (which precedes every matrix type: their scope is such a constant).
  uint32_t bound = w[3];
  const std::array<uint32_t, 3> k = {bound, bound + 1, bound + 2};
  bound += 3;
  auto layout = [&](uint32_t flag) {
    const auto it = bool_constant.find(flag);
    if (it == bool_constant.end()) fail("column-major flag %" + std::to_string(flag) + " is not a constant true/false");
    return k[uint32_t(it->second ? MatrixLayout::ColumnMajor : MatrixLayout::RowMajor)];
  };

  std::vector<uint32_t> out(w.begin(), w.begin() + 5);
  bool constants_added = false;
  for (const Instruction& i : ins) {
    const std::span<const uint32_t> in = w.subspan(i.at, i.count);
    switch (i.op) {
      case spv::kOpCapability:
        out.insert(out.end(), in.begin(), in.end());
        if (in.size() == 2 && in[1] == spv::kCapabilityCooperativeMatrixNV) out.back() = spv::kCapabilityCooperativeMatrixKHR;
        break;
      case spv::kOpExtension:
        if (decode_string(in.subspan(1)) == "SPV_NV_cooperative_matrix") {
          const std::vector<uint32_t> s = encode_string("SPV_KHR_cooperative_matrix");
          out.push_back(header(spv::kOpExtension, 1 + s.size()));
          out.insert(out.end(), s.begin(), s.end());
        } else {
          out.insert(out.end(), in.begin(), in.end());
        }
        break;
      case spv::kOpTypeInt:
        out.insert(out.end(), in.begin(), in.end());
        if (!constants_added && in.size() == 4 && in[2] == 32) {
          for (uint32_t v = 0; v < 3; ++v) out.insert(out.end(), {header(spv::kOpConstant, 4), in[1], k[v], v});
          constants_added = true;
        }
        break;
      case spv::kOpTypeCooperativeMatrixNV:
        if (!constants_added) fail("a cooperative-matrix type precedes every 32-bit integer type");
        out.insert(out.end(), {header(spv::kOpTypeCooperativeMatrixKHR, 7), in[1], in[2], in[3], in[4], in[5],
                               k[uint32_t(use.at(in[1]))]});
        break;
      case spv::kOpCooperativeMatrixLoadNV:  // type, result, pointer, stride, column-major, [memory access]
        if (in.size() < 6) fail("OpCooperativeMatrixLoadNV with " + std::to_string(in.size()) + " words");
        out.insert(out.end(), {header(spv::kOpCooperativeMatrixLoadKHR, in.size()), in[1], in[2], in[3], layout(in[5]), in[4]});
        out.insert(out.end(), in.begin() + 6, in.end());
        break;
      case spv::kOpCooperativeMatrixStoreNV:  // pointer, object, stride, column-major, [memory access]
        if (in.size() < 5) fail("OpCooperativeMatrixStoreNV with " + std::to_string(in.size()) + " words");
        out.insert(out.end(), {header(spv::kOpCooperativeMatrixStoreKHR, in.size()), in[1], in[2], layout(in[4]), in[3]});
        out.insert(out.end(), in.begin() + 5, in.end());
        break;
      case spv::kOpCooperativeMatrixMulAddNV:
      case spv::kOpCooperativeMatrixLengthNV:
        out.insert(out.end(), in.begin(), in.end());
        out[out.size() - in.size()] = header(i.op == spv::kOpCooperativeMatrixMulAddNV ? spv::kOpCooperativeMatrixMulAddKHR
                                                                                      : spv::kOpCooperativeMatrixLengthKHR,
                                             in.size());
        break;
      default: out.insert(out.end(), in.begin(), in.end());
    }
  }
  out[3] = bound;
  return out;
}

}  // namespace dsv4::vk
