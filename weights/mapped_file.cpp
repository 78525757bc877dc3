#include "weights/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "weights/error.h"

namespace dsv4 {

namespace {

// ---- The registry of live mappings, read by the signal handler --------------------------------
// Fixed-size and lock-free: the handler may run while another thread maps or unmaps, and may only
// use async-signal-safe operations (atomics, plain loads, write, _exit).

enum SlotState : int { kFree = 0, kClaimed = 1, kLive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  std::atomic<uintptr_t> begin{0}, end{0};
  char path[1024];
};

constexpr int kSlots = 512;  // a Pro checkpoint has ~64 shards; tests open a few at a time
Slot g_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<uintptr_t>::is_always_lock_free);

struct sigaction g_previous;  // the disposition before ours, for faults that are not ours

int register_mapping(const std::byte* base, uint64_t size, const std::filesystem::path& path) {
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) continue;
    Slot& s = g_slots[i];
    const std::string p = path.string();
    const size_t n = std::min(p.size(), sizeof(s.path) - 1);
    std::memcpy(s.path, p.data(), n);
    s.path[n] = '\0';
    s.begin.store(uintptr_t(base), std::memory_order_relaxed);
    s.end.store(uintptr_t(base) + size, std::memory_order_relaxed);
    s.state.store(kLive, std::memory_order_release);
    return i;
  }
  return -1;  // full: the mapping still works, a fault in it is just not reported nicely
}

void unregister_mapping(int slot) {
  if (slot < 0) return;
  g_slots[slot].state.store(kClaimed, std::memory_order_release);  // hidden before munmap
}

void release_slot(int slot) {
  if (slot >= 0) g_slots[slot].state.store(kFree, std::memory_order_release);
}

// Async-signal-safe output helpers.
void put(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= size_t(w);
  }
}

void put_u64(uint64_t v) {
  char buf[24];
  int i = sizeof(buf) - 1;
  buf[i] = '\0';
  do {
    buf[--i] = char('0' + v % 10);
    v /= 10;
  } while (v && i > 0);
  put(buf + i);
}

// Hands a fault that is not ours to whoever had SIGBUS before (a sanitizer, a debugger's runtime)
// or to the default action, which terminates the process with a core.
void forward(int sig, siginfo_t* info, void* ctx) {
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, ctx);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN && g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  // A hardware fault re-executes the access on return and dies by the default action; a SIGBUS
  // sent by kill() would not recur, so raise it again (blocked until this handler returns).
  if (info == nullptr || info->si_code <= 0) ::raise(SIGBUS);
}

void on_sigbus(int sig, siginfo_t* info, void* ctx) {
  const uintptr_t addr = info ? uintptr_t(info->si_addr) : 0;
  for (int i = 0; i < kSlots; ++i) {
    const Slot& s = g_slots[i];
    if (s.state.load(std::memory_order_acquire) != kLive) continue;
    const uintptr_t b = s.begin.load(std::memory_order_relaxed), e = s.end.load(std::memory_order_relaxed);
    if (addr < b || addr >= e) continue;
    put("dsv4: error: ");
    put(s.path);
    put(": the file changed (truncated?) while mapped; reading offset ");
    put_u64(uint64_t(addr - b));
    put(" failed\n");
    ::_exit(1);
  }
  forward(sig, info, ctx);
}

std::string file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

}  // namespace

void install_mapped_file_sigbus_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
  });
}

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) throw ModelError(path.string() + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st{};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string kind = file_kind(st.st_mode);
    ::close(fd_);
    throw ModelError(path.string() + ": not a regular file (" + kind + ")");
  }
  size_ = uint64_t(st.st_size);
  mtime_ = st.st_mtim;
  if (size_ == 0) return;
  // MAP_PRIVATE + PROT_READ: pages come from the page cache on demand; nothing is copied.
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
  if (p == MAP_FAILED) {
    ::close(fd_);
    throw ModelError(path.string() + ": mmap failed (" + std::strerror(errno) + ")");
  }
  base_ = static_cast<const std::byte*>(p);
  install_mapped_file_sigbus_handler();
  slot_ = register_mapping(base_, size_, path_);
}

MappedFile::~MappedFile() {
  unregister_mapping(slot_);
  if (base_) ::munmap(const_cast<std::byte*>(base_), size_);
  release_slot(slot_);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::check_unchanged() const {
  struct stat st{};
  if (::fstat(fd_, &st) != 0)
    throw ModelError(path_.string() + ": cannot stat while loading (" + std::strerror(errno) + ")");
  if (uint64_t(st.st_size) != size_)
    throw ModelError(path_.string() + " changed size while loading (was " + std::to_string(size_) + " bytes, now " +
                     std::to_string(uint64_t(st.st_size)) + "); do not modify a model while dsv4 reads it");
  if (st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec)
    throw ModelError(path_.string() + " was modified while loading (its mtime changed); do not modify a model "
                     "while dsv4 reads it");
}

}  // namespace dsv4
