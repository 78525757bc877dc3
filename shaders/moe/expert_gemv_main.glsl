// main() of the expert GEMVs (expert_gemv_io.glsl): for every (step row, expert slot) of the
// dispatch, the unit partials of its output rows, their fixed shared-memory tree (the same order on
// every device, whatever its subgroup size), and the epilogue:
//   MODE 0 (gate/up): units 0,1 = w1 rows, units 2,3 = the same w3 rows (2 * RPU rows per
//          workgroup); h = bf16(weight * silu(min(g, L)) * clamp(u, -L, L)) with g, u the bf16
//          linear outputs (graph::expert_forward).
//   MODE 1 (down):    4 * RPU output rows of w2 per workgroup, out = bf16(linear).
// Workgroup y = step row * n_slots + slot (rows >= n_rows skipped), x = a tile of output rows.
float silu(float v) { return v / (1.0 + exp(-v)); }

// The input row `xrow` into xs: act-quantised (QUANT_X) or as it is. All invocations call it.
void stage_input(uint xrow) {
  if (QUANT_X) {
    stage_act_quant(xrow * (p.cols / 4u), p.cols);
  } else {
    for (uint i = gl_LocalInvocationID.x; i < p.cols / 4u; i += 256u) xs[i] = xin[xrow * (p.cols / 4u) + i];
    barrier();
  }
}

void main() {
  const uint step_row = gl_WorkGroupID.y / p.n_slots;
  if (step_row >= step.n_rows) return;
  // Slots count from slot_base modulo k+1: a dispatch of all k+1 starts at the shared expert's
  // (expert_gemv_mixed: its FP8 rows take the longest, so its workgroups launch first).
  const uint slot = (p.slot_base + gl_WorkGroupID.y % p.n_slots) % (p.topk + 1u);
  const bool shared_slot = slot == p.topk;  // the shared expert: expert 0 of its stack, no routing weight
  uint expert = 0u;
  float weight = 1.0;
  if (!shared_slot) {
    expert = route[step_row * 2u * p.topk + slot];
    weight = uintBitsToFloat(route[step_row * 2u * p.topk + p.topk + slot]);
  }
  const uint k1 = p.topk + 1u;
  const uint io_row = step_row * k1 + slot - p.io_slot0;  // this pair's row of h and out
  const uint xrow = p.in_per_row == 1u ? step_row : io_row;
  const uint lid = gl_LocalInvocationID.x;
  const uint unit = lid / THREADS_PER_ROW;
  const uint t = lid % THREADS_PER_ROW;
  // MODE 0: unit & 1 picks the row parity, unit >> 1 the matrix (w1, w3); MODE 1: 4 row phases.
  const uint phases = MODE == 0u ? 2u : 4u;
  const uint phase = MODE == 0u ? (unit & 1u) : unit;
  const bool use_b = MODE == 0u && unit >= 2u;
  const uint row0 = gl_WorkGroupID.x * phases * RPU;
  // This unit's rows (rows past the matrix read its last row and are dropped).
  uint rows[RPU];
  for (uint i = 0u; i < RPU; ++i) rows[i] = min(row0 + i * phases + phase, p.rows - 1u);
  // The first words are loaded before the staging, and only they and these scalars live across
  // its barriers, whatever the slot's format: llvmpipe keeps every value that does in each
  // invocation's coroutine frame, allocated per workgroup (frames past 128 KiB a workgroup made
  // every workgroup fault in fresh pages under ASan).
  const bool fp8 = slot_is_fp8(shared_slot);
  uvec4 q[RPU];
  uint s[RPU];
  if (fp8) {
    fp8_first_words(use_b, expert, rows, q, s);
  } else {
    fp4_first_words(use_b, expert, rows, q, s);
  }
  if (fp8 || QUANT_X) stage_input(xrow);  // FP8 always reads the staged row; MXFP4 only to quantise it
  float acc[RPU];
  if (fp8) {
    fp8_unit_loop(use_b, expert, rows, q, s, acc);
  } else {
    fp4_unit_loop(use_b, expert, rows, q, s, xrow, acc);
  }
  for (uint i = 0u; i < RPU; ++i) red[i][lid] = row0 + i * phases + phase < p.rows ? acc[i] : 0.0;
  barrier();
  for (uint s = THREADS_PER_ROW / 2u; s > 0u; s >>= 1) {
    if (t < s) {
      for (uint i = 0u; i < RPU; ++i) red[i][lid] += red[i][lid + s];
    }
    barrier();
  }
  // Row row0 + i * phases + ph sits in red[i][unit * 64] of its unit.
  if (lid < phases * RPU) {
    const uint i = lid / phases, ph = lid % phases;
    const uint r = row0 + i * phases + ph;
    if (r < p.rows) {
      if (MODE == 0u) {
        float g = round_bf16(red[i][ph * THREADS_PER_ROW]);
        float u = round_bf16(red[i][(ph + 2u) * THREADS_PER_ROW]);
        if (p.swiglu_limit > 0.0) {
          u = clamp(u, -p.swiglu_limit, p.swiglu_limit);
          g = min(g, p.swiglu_limit);
        }
        float h = silu(g) * u;
        if (!shared_slot) h = weight * h;
        outv[io_row * p.rows + r] = round_bf16(h);
      } else {
        outv[io_row * p.rows + r] = round_bf16(red[i][ph * THREADS_PER_ROW]);
      }
    }
  }
}
