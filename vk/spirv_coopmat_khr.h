// Rewrites a SPIR-V module written against SPV_NV_cooperative_matrix into the same module on
// SPV_KHR_cooperative_matrix. Why: Debian 12's glslang (12) compiles GL_NV_cooperative_matrix but
// not GL_KHR_cooperative_matrix, while AMD, Intel and Mesa drivers implement only the KHR
// extension. The two encode the same operations differently (the KHR type carries a use: A, B or
// accumulator; loads and stores take an integer layout instead of a column-major flag, before the
// stride; new opcodes), so the build derives each KHR kernel from its NV source instead of keeping
// a second copy of the shader.
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace dsv4::vk {

struct SpirvRewriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The KHR form of `nv`. Each OpTypeCooperativeMatrixNV gets the use its values have as operands
// of OpCooperativeMatrixMulAddNV (accumulator when no multiply-add uses it). Throws
// SpirvRewriteError on a malformed module, on a type used in two roles (a shader multiplying
// square fp16 tiles must give A and B distinct types, e.g. with a specialization-constant K:
// shaders/common/coopmat.glsl) and on a column-major flag that is not a constant. A module
// without NV cooperative matrices comes back unchanged.
std::vector<uint32_t> coopmat_nv_to_khr(std::span<const uint32_t> nv);

// SPIR-V numbers both forms use (registry: SPIRV-Headers spirv.core.grammar.json).
namespace spv {
constexpr uint32_t kMagic = 0x07230203;
constexpr uint32_t kOpExtension = 10, kOpCapability = 17, kOpTypeInt = 21;
constexpr uint32_t kOpConstantTrue = 41, kOpConstantFalse = 42, kOpConstant = 43;
constexpr uint32_t kCapabilityCooperativeMatrixNV = 5357, kCapabilityCooperativeMatrixKHR = 6022;
constexpr uint32_t kOpTypeCooperativeMatrixNV = 5358, kOpCooperativeMatrixLoadNV = 5359,
                   kOpCooperativeMatrixStoreNV = 5360, kOpCooperativeMatrixMulAddNV = 5361,
                   kOpCooperativeMatrixLengthNV = 5362;
constexpr uint32_t kOpTypeCooperativeMatrixKHR = 4456, kOpCooperativeMatrixLoadKHR = 4457,
                   kOpCooperativeMatrixStoreKHR = 4458, kOpCooperativeMatrixMulAddKHR = 4459,
                   kOpCooperativeMatrixLengthKHR = 4460;
enum class MatrixUse : uint32_t { A = 0, B = 1, Accumulator = 2 };        // CooperativeMatrixUse
enum class MatrixLayout : uint32_t { RowMajor = 0, ColumnMajor = 1 };     // CooperativeMatrixLayout
}  // namespace spv

}  // namespace dsv4::vk
