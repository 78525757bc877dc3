// How many keys a sparse-attention row sees (attention_keys.glsl has which): the window positions
// max(0,p-W+1)..p, then index_topk selected entries (ratio 4), all (p+1)/ratio entries (ratio > 4)
// or none (ratio 0). The includer declares push constants `pc` (window, ratio, index_topk) and
// includes step.glsl.
#ifndef DSV4_ATTENTION_ROWS_GLSL
#define DSV4_ATTENTION_ROWS_GLSL

uint n_keys(uint row) {
  const int p = step.rows[row].pos;
  const uint nw = uint(p - max(0, p - int(pc.window) + 1) + 1);
  if (pc.ratio == 4u) return nw + pc.index_topk;
  if (pc.ratio > 0u) return nw + uint(p + 1) / pc.ratio;
  return nw;
}

#endif  // DSV4_ATTENTION_ROWS_GLSL
