// Block dequantisation of checkpoint tensors to fp32, for the CPU reference and the tests
// (model-spec §2.3, §2.6). Every function takes TensorViews (Checkpoint::view) and writes whole
// rows of the logical [out, in] matrix; shapes and dtypes are checked, errors throw ModelError.
//
//   dequant_fp8_rows(w, scale, row0, nrows, out)
//       w: F8_E4M3 [out, in]; scale: F8_E8M0 or F32 [ceil(out/128), ceil(in/128)] (instruct
//       checkpoints store E8M0, Base checkpoints F32). out: nrows x in floats,
//       out[r][j] = e4m3(w[row0+r][j]) * scale[(row0+r)/128][j/128].
//   dequant_fp4_rows(w, scale, row0, nrows, out)
//       w: I8 [out, in/2] packed e2m1, element 2j in the LOW nibble of byte j; scale: F8_E8M0
//       [out, in/32]. out: nrows x in floats, out[r][c] = e2m1(nibble) * scale[row0+r][c/32].
//   to_float_rows(t, row0, nrows, out)
//       t: BF16, F16 or F32, viewed as [rows, cols] with cols = the last dimension (a 1-D
//       tensor is one row). out: nrows x cols floats, exact.
//   dequant_rows(w, scale, row0, nrows, out)
//       dispatch on w.dtype: F8_E4M3 -> fp8, I8 -> fp4, BF16/F16/F32 -> to_float (scale unused,
//       may be null). The one dtype dispatch point the CPU reference needs.
//   dequant_all(w, scale) -> std::vector<float>: every row of the above.
//   to_int64(t) -> std::vector<int64_t>: an I64 (tid2eid) or I32 tensor.
//   logical_cols(w): `in` of the logical matrix (I8 packed: 2 x the stored columns).
#pragma once
#include <cstdint>
#include <vector>

#include "weights/safetensors.h"

namespace dsv4 {

int64_t logical_rows(const TensorView& w);
int64_t logical_cols(const TensorView& w);

void dequant_fp8_rows(const TensorView& w, const TensorView& scale, int64_t row0, int64_t nrows, float* out);
void dequant_fp4_rows(const TensorView& w, const TensorView& scale, int64_t row0, int64_t nrows, float* out);
void to_float_rows(const TensorView& t, int64_t row0, int64_t nrows, float* out);
void dequant_rows(const TensorView& w, const TensorView* scale, int64_t row0, int64_t nrows, float* out);
std::vector<float> dequant_all(const TensorView& w, const TensorView* scale);
std::vector<int64_t> to_int64(const TensorView& t);

}  // namespace dsv4
