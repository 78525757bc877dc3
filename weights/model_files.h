// Which files of a model directory dsv4 agrees to read. A shard, config.json or tokenizer.json
// must be a regular file whose real location is inside the model directory, so a downloaded
// directory cannot make dsv4 read (and, through errors and outputs, reveal) arbitrary files via
// symlinks, nor hang on a FIFO or stream /dev/zero. Two exceptions:
//  - the Hugging Face hub cache: .../models--X/snapshots/<rev>/<file> -> ../../blobs/<hash>, the
//    target inside that same models--X/blobs/ (what `huggingface-cli download` produces);
//  - DSV4_ALLOW_EXTERNAL_SHARDS=1 in the environment allows any symlink target.
#pragma once
#include <filesystem>

namespace dsv4 {

// Throws ModelError naming the file (and the link target) if `file` exists but may not be read
// under the rules above. A missing file passes: callers report that in their own words.
void check_model_file(const std::filesystem::path& file);

}  // namespace dsv4
