#version 450
#extension GL_GOOGLE_include_directive : require
// Prefill grouped GEMM, sort step 2 of 3: exclusive offsets of the per-expert counts (the
// scatter's cursors start there), the tile table (each expert's pairs cut into tiles of at most
// TILE_M: uvec4 {expert, first pair, pairs, 0}, experts in increasing order) and the two
// VkDispatchIndirectCommands of the grouped GEMMs, {tiles, column tiles, 1}: gate/up at word 0,
// down at word 4. One workgroup; thread t owns experts [4t, 4t + 4) and a Hillis-Steele scan over
// the 256 threads' sums gives each its starting pair and tile.
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint TILE_M = 32;

layout(std430, binding = 0) readonly buffer Counts { uint counts[]; };
layout(std430, binding = 1) writeonly buffer Cursor { uint cursor[]; };
layout(std430, binding = 2) writeonly buffer Tiles { uvec4 tiles[]; };
layout(std430, binding = 3) writeonly buffer Args { uint args[]; };

layout(push_constant) uniform Params { uint n_experts, up_col_tiles, down_col_tiles; } p;

const uint PER_THREAD = 4u;  // 256 * 4 = the 1024 experts sort_count.comp allows
shared uint pair_sum[256], tile_sum[256];

uint tiles_of(uint c) { return (c + TILE_M - 1u) / TILE_M; }

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint e0 = lid * PER_THREAD, e1 = min(e0 + PER_THREAD, p.n_experts);
  uint my_pairs = 0u, my_tiles = 0u;
  for (uint e = e0; e < e1; ++e) {
    my_pairs += counts[e];
    my_tiles += tiles_of(counts[e]);
  }
  pair_sum[lid] = my_pairs;
  tile_sum[lid] = my_tiles;
  barrier();
  for (uint d = 1u; d < 256u; d <<= 1) {  // inclusive scan
    const uint ap = lid >= d ? pair_sum[lid - d] : 0u, at = lid >= d ? tile_sum[lid - d] : 0u;
    barrier();
    pair_sum[lid] += ap;
    tile_sum[lid] += at;
    barrier();
  }
  uint pair = pair_sum[lid] - my_pairs, tile = tile_sum[lid] - my_tiles;
  for (uint e = e0; e < e1; ++e) {
    const uint c = counts[e];
    cursor[e] = pair;
    for (uint t = 0u; t < tiles_of(c); ++t) tiles[tile + t] = uvec4(e, pair + t * TILE_M, min(TILE_M, c - t * TILE_M), 0u);
    pair += c;
    tile += tiles_of(c);
  }
  if (lid == 0u) {
    const uint total = tile_sum[255];
    args[0] = total;
    args[1] = p.up_col_tiles;
    args[2] = 1u;
    args[4] = total;
    args[5] = p.down_col_tiles;
    args[6] = 1u;
  }
}
