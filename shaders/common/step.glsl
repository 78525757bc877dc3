// The step descriptor (graph/vulkan/step.h is its C++ mirror): one row per token this step
// processes, saying which token, at which absolute position, of which sequence slot. A prefill
// chunk is rows of one sequence at consecutive positions; a batched decode step is one row per
// sequence. Kernels read counts and positions from here (never from push constants), so one
// recording serves every step whose row count fits: rows >= n_rows are skipped.
//
// first_row: the index of the first row of the same sequence in this step, so the sequence's
// positions before this step are those < pos - (row - first_row) ("before the chunk") and the
// row holding position q of this step is first_row + (q - chunk_start).
//
// Usage:   #define DSV4_STEP_BINDING 0
//          #include "step.glsl"        -> buffer `step` (readonly unless DSV4_STEP_WRITABLE)
#ifndef DSV4_STEP_GLSL
#define DSV4_STEP_GLSL

struct StepRow {
  int token;
  int pos;
  int seq;
  int first_row;
};

#ifndef DSV4_STEP_BINDING
#error "define DSV4_STEP_BINDING before including step.glsl"
#endif

layout(std430, set = 0, binding = DSV4_STEP_BINDING)
#ifndef DSV4_STEP_WRITABLE
readonly
#endif
buffer StepBuffer {
  uint n_rows;      // rows this step (<= max_rows)
  uint max_rows;    // rows the recording was made for
  uint rope_slots;  // tables per row in the rope buffer (graph/vulkan/step.h: RopeSlots)
  uint rope_pairs;  // rope_dim / 2
  StepRow rows[];
} step;

int step_chunk_start(uint row) { return step.rows[row].pos - int(row) + step.rows[row].first_row; }

#endif  // DSV4_STEP_GLSL
