#include "weights/model_files.h"


#include <cstdlib>
#include <cstring>
#include <string>

#include "weights/error.h"

namespace dsv4 {

namespace {

namespace fs = std::filesystem;

// `inner` (canonical) lies below `outer` (canonical).
bool is_inside(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin();
  auto i = inner.begin();
  for (; o != outer.end(); ++o, ++i)
    if (i == inner.end() || *i != *o) return false;
  return i != inner.end();
}

// dir = .../models--X/snapshots/<rev> and target = .../models--X/blobs/<hash>.
bool is_hub_cache_blob(const fs::path& real_dir, const fs::path& target) {
  const fs::path snapshots = real_dir.parent_path(), repo = snapshots.parent_path();
  return snapshots.filename() == "snapshots" && repo.filename().string().rfind("models--", 0) == 0 &&
         target.parent_path() == repo / "blobs";
}

bool external_allowed() {
  const char* v = std::getenv("DSV4_ALLOW_EXTERNAL_SHARDS");
  return v && std::strcmp(v, "1") == 0;
}

std::string kind_of(fs::file_type t) {
  switch (t) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

}  // namespace

void check_model_file(const fs::path& file) {
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(file, ec);
  if (ec || !fs::exists(link)) return;
  if (fs::is_symlink(link)) {
    const fs::path target = fs::canonical(file, ec);
    if (ec) throw ModelError(file.string() + ": symlink to " + fs::read_symlink(file, ec).string() + ", which does not exist");
    const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
    const fs::path real_dir = fs::canonical(dir, ec);
    if (!ec && !is_inside(target, real_dir) && !is_hub_cache_blob(real_dir, target) && !external_allowed())
      throw ModelError(file.string() + ": symlink to " + target.string() +
                       ", outside the model directory (refused; DSV4_ALLOW_EXTERNAL_SHARDS=1 allows it)");
  }
  const fs::file_status st = fs::status(file, ec);
  if (!ec && !fs::is_regular_file(st)) throw ModelError(file.string() + ": not a regular file (" + kind_of(st.type()) + ")");
}

}  // namespace dsv4
