// System calls of the datatier tool, kept in this one file.
#include "os.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "datatier/error.h"

namespace datatier::cli::os {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void record_signal(int signal) {
  if (g_signal == 0) g_signal = signal;
}

[[noreturn]] void throw_errno(int error, const std::filesystem::path& path, const std::string& what) {
  throw Error(std::error_code(error, std::system_category()), path, what);
}

// Owns a file descriptor.
class Fd {
 public:
  Fd(const std::filesystem::path& path, int flags, const char* what) : fd_(::open(path.c_str(), flags | O_CLOEXEC, 0600)) {
    if (fd_ < 0) throw_errno(errno, path, what);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::size_t page_size() noexcept { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

}  // namespace

bool stderr_is_terminal() noexcept { return ::isatty(STDERR_FILENO) == 1; }

Interrupted::Interrupted(int signal)
    : std::runtime_error(std::string("interrupted by ") + signal_name(signal)), signal_(signal) {}

void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : {SIGINT, SIGTERM}) {
    if (::sigaction(signal, &action, nullptr) != 0) throw_errno(errno, {}, "cannot install a signal handler");
  }
}

void throw_if_interrupted() {
  if (g_signal != 0) throw Interrupted(g_signal);
}

void reraise(int signal) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal, &action, nullptr);
  ::raise(signal);
  std::_Exit(128 + signal);  // not reached for SIGINT and SIGTERM
}

const char* signal_name(int signal) noexcept {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

std::filesystem::path make_temp_dir(const char* prefix) {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::filesystem::path base = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  std::string name = (base / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(name.data()) == nullptr) throw_errno(errno, base, "cannot create a temporary directory");
  return name;
}

long process_id() noexcept { return static_cast<long>(::getpid()); }

void create_reserved_file(const std::filesystem::path& path, std::uint64_t size) {
  const Fd fd(path, O_WRONLY | O_CREAT | O_EXCL, "cannot create");
  const int error = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
  if (error != 0) throw_errno(error, path, "cannot reserve " + std::to_string(size) + " bytes");
  if (::fsync(fd.get()) != 0) throw_errno(errno, path, "cannot sync");
}

bool write_file_synced(const std::filesystem::path& path, std::span<const std::byte> data,
                       std::size_t chunk, bool direct, const ChunkCallback& callback) {
  constexpr std::size_t kBlock = 4096;
  const int flags = O_WRONLY | O_CLOEXEC | (direct ? O_DIRECT : 0);
  const int raw = ::open(path.c_str(), flags);
  if (raw < 0 && direct && errno == EINVAL) return false;  // no direct I/O here
  if (raw < 0) throw_errno(errno, path, "cannot open");
  ::close(raw);
  const Fd fd(path, O_WRONLY | (direct ? O_DIRECT : 0), "cannot open");
  // Direct I/O takes whole blocks; the tail goes through the page cache.
  const std::size_t aligned = direct ? data.size() / kBlock * kBlock : data.size();
  std::size_t done = 0;
  auto write_range = [&](int target, std::size_t end) {
    while (done < end) {
      const std::size_t n = std::min(chunk, end - done);
      const ssize_t written = ::pwrite(target, data.data() + done, n, static_cast<off_t>(done));
      if (written < 0) {
        if (errno == EINTR) continue;
        throw_errno(errno, path, "cannot write");
      }
      done += static_cast<std::size_t>(written);
      if (callback) callback(done);
    }
  };
  write_range(fd.get(), aligned);
  if (::fsync(fd.get()) != 0) throw_errno(errno, path, "cannot sync");
  if (aligned < data.size()) {
    const Fd tail(path, O_WRONLY, "cannot open");
    write_range(tail.get(), data.size());
    if (::fsync(tail.get()) != 0) throw_errno(errno, path, "cannot sync");
  }
  return true;
}

std::uint64_t read_file(const std::filesystem::path& path, std::size_t chunk, const ChunkCallback& callback) {
  const Fd fd(path, O_RDONLY, "cannot open");
  std::vector<std::byte> buffer(chunk);
  std::uint64_t done = 0;
  for (;;) {
    const ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path, "cannot read");
    }
    if (n == 0) return done;
    done += static_cast<std::uint64_t>(n);
    if (callback) callback(done);
  }
}

void evict_from_page_cache(const std::filesystem::path& path) {
  const Fd fd(path, O_RDONLY, "cannot open");
  if (::fdatasync(fd.get()) != 0) throw_errno(errno, path, "cannot sync");
  const int error = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (error != 0) throw_errno(error, path, "cannot drop from the page cache");
}

std::optional<std::uint64_t> available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream fields(line);
    std::string key;
    std::uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

AnonymousMemory AnonymousMemory::map_populated(std::size_t size) {
  if (size == 0) return AnonymousMemory(nullptr, 0);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno(errno, {}, "cannot map " + std::to_string(size) + " bytes");
  AnonymousMemory memory(static_cast<std::byte*>(p), size);
  ::madvise(p, size, MADV_HUGEPAGE);  // a preference: a refusal is fine
#ifdef MADV_POPULATE_WRITE
  if (::madvise(p, size, MADV_POPULATE_WRITE) == 0) return memory;
  if (errno != EINVAL) throw_errno(errno, {}, "cannot fault in " + std::to_string(size) + " bytes");
#endif
  const std::size_t step = page_size();
  for (std::size_t offset = 0; offset < size; offset += step) {
    *static_cast<volatile std::byte*>(memory.data_ + offset) = std::byte{0};
  }
  return memory;
}

AnonymousMemory::AnonymousMemory(AnonymousMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

AnonymousMemory& AnonymousMemory::operator=(AnonymousMemory&& other) noexcept {
  if (this != &other) {
    unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

AnonymousMemory::~AnonymousMemory() { unmap(); }

void AnonymousMemory::unmap() noexcept {
  if (data_ != nullptr) {
    ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }
}

}  // namespace datatier::cli::os
