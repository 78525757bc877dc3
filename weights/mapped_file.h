// A read-only memory map of one checkpoint shard, guarded against the file changing underneath:
//  - its size and mtime at open are recorded; check_unchanged() compares them with fstat, so the
//    loaders can fail with a clear error between tensors instead of reading a half-rewritten file;
//  - every live mapping is listed in a small lock-free registry that a process-wide SIGBUS handler
//    consults: touching a page past the end of a file truncated after mmap raises SIGBUS, and the
//    handler turns that into one line "dsv4: error: <file>: the file changed (truncated?) while
//    mapped; reading offset N failed" and exit status 1 instead of a crash. Faults outside our
//    mappings keep their previous disposition.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <span>

namespace dsv4 {

class MappedFile {
 public:
  // Throws ModelError if `path` cannot be opened, is not a regular file, or cannot be mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {base_, size_t(size_)}; }
  uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Throws ModelError "<file> changed size while loading (was N bytes, now M); ..." (or "was
  // modified while loading" when only the mtime moved) if the file is no longer the one mapped.
  void check_unchanged() const;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  const std::byte* base_ = nullptr;
  uint64_t size_ = 0;
  timespec mtime_{};
  int slot_ = -1;  // registry slot, -1 when not registered (empty file, or registry full)
};

// Installs the SIGBUS handler (idempotent; MappedFile does it on first use). Exposed for tests.
void install_mapped_file_sigbus_handler();

}  // namespace dsv4
