// System calls of the datatier tool, kept in this one file.
#include "os.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "datatier/error.h"

namespace datatier::cli::os {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void record_signal(int signal) {
  if (g_signal == 0) g_signal = signal;
}

[[noreturn]] void throw_errno(int error, const std::filesystem::path& path,
                              const std::string& what) {
  throw Error(std::error_code(error, std::system_category()), path, what);
}

// Owns a file descriptor.
class Fd {
 public:
  Fd(const std::filesystem::path& path, int flags, const char* what)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, 0600)) {
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

std::size_t page_size() noexcept {
  return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// O_DIRECT transfers whole blocks of this size, from buffers aligned to it.
constexpr std::size_t kDirectBlock = 4096;

// Whether `path` can be opened with `flags` | O_DIRECT: false where the file
// system has no direct I/O (EINVAL). Throws: datatier::Error for any other
// failure to open.
bool direct_io_available(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_DIRECT);
  if (fd < 0 && errno == EINVAL) return false;
  if (fd < 0) throw_errno(errno, path, "cannot open");
  ::close(fd);
  return true;
}

// Writes all of `bytes` at `offset` of `fd` (the file `path`), continuing
// after short writes and EINTR.
void pwrite_all(const Fd& fd, const std::filesystem::path& path, std::span<const std::byte> bytes,
                std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path, "cannot write");
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

void sync_file(const Fd& fd, const std::filesystem::path& path) {
  if (::fsync(fd.get()) != 0) throw_errno(errno, path, "cannot sync");
}

// Reads `fd` (the file `path`) from offset 0 to its end with pread()s of
// buffer.size() bytes. Returns the bytes read. Under O_DIRECT (`direct`), a
// read that ends off a block boundary is the file's end: another pread()
// from there would fail.
std::uint64_t read_to_end(const Fd& fd, const std::filesystem::path& path,
                          std::span<std::byte> buffer, bool direct, const ChunkCallback& callback) {
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
    if (direct && static_cast<std::size_t>(n) % kDirectBlock != 0) return done;
  }
}

// Reads `size` bytes at `data` into memory, one call on Linux 5.14+.
void fault_in_for_reading(std::byte* data, std::size_t size, const std::filesystem::path& path) {
#ifdef MADV_POPULATE_READ
  if (::madvise(data, size, MADV_POPULATE_READ) == 0) return;
  if (errno != EINVAL) throw_errno(errno, path, "cannot fault in");
#endif
  for (std::size_t offset = 0; offset < size; offset += page_size()) {
    static_cast<void>(*static_cast<volatile std::byte*>(data + offset));
  }
}

}  // namespace

bool stderr_is_terminal() noexcept {
  return ::isatty(STDERR_FILENO) == 1;
}

const char* errno_name(int error) noexcept {
  return ::strerrorname_np(error);
}

Interrupted::Interrupted(int signal)
    : std::runtime_error(std::string("interrupted by ") + signal_name(signal)), signal_(signal) {}

void catch_interrupts() {
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : {SIGINT, SIGTERM}) {
    if (::sigaction(signal, &action, nullptr) != 0) {
      throw_errno(errno, {}, "cannot install a signal handler");
    }
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
  if (::mkdtemp(name.data()) == nullptr) {
    throw_errno(errno, base, "cannot create a temporary directory");
  }
  return name;
}

long process_id() noexcept {
  return static_cast<long>(::getpid());
}

void create_reserved_file(const std::filesystem::path& path, std::uint64_t size) {
  const Fd fd(path, O_WRONLY | O_CREAT | O_EXCL, "cannot create");
  const int error = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
  if (error != 0) throw_errno(error, path, "cannot reserve " + std::to_string(size) + " bytes");
  sync_file(fd, path);
}

bool write_file_synced(const std::filesystem::path& path, std::span<const std::byte> data,
                       std::size_t chunk, bool direct, const ChunkCallback& callback) {
  if (direct && !direct_io_available(path, O_WRONLY)) return false;
  const Fd fd(path, O_WRONLY | (direct ? O_DIRECT : 0), "cannot open");
  // Direct I/O takes whole blocks; the tail goes through the page cache.
  const std::size_t aligned = direct ? data.size() / kDirectBlock * kDirectBlock : data.size();
  std::size_t done = 0;
  auto write_range = [&](const Fd& target, std::size_t end) {
    while (done < end) {
      const std::size_t n = std::min(chunk, end - done);
      pwrite_all(target, path, data.subspan(done, n), done);
      done += n;
      if (callback) callback(done);
    }
  };
  write_range(fd, aligned);
  sync_file(fd, path);
  if (aligned < data.size()) {
    const Fd tail(path, O_WRONLY, "cannot open");
    write_range(tail, data.size());
    sync_file(tail, path);
  }
  return true;
}

bool write_blocks_synced(const std::filesystem::path& path, std::span<const std::byte> data,
                         std::span<const std::uint64_t> offsets, std::size_t block, unsigned depth,
                         bool direct, const ChunkCallback& callback) {
  if (direct && !direct_io_available(path, O_WRONLY)) return false;
  const Fd whole(path, O_WRONLY | (direct ? O_DIRECT : 0), "cannot open");
  const Fd partial(path, O_WRONLY, "cannot open");
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> failed{false};
  depth = static_cast<unsigned>(std::clamp<std::size_t>(offsets.size(), 1, std::max(1u, depth)));
  std::vector<std::exception_ptr> errors(depth);
  auto work = [&](unsigned t) {
    try {
      for (std::size_t i = next++; i < offsets.size() && !failed; i = next++) {
        const auto offset = static_cast<std::size_t>(offsets[i]);
        const std::size_t length = std::min(block, data.size() - offset);
        pwrite_all(length % kDirectBlock == 0 ? whole : partial, path, data.subspan(offset, length),
                   offset);
        const std::uint64_t total = done += length;
        if (callback) callback(total);
      }
    } catch (...) {
      errors[t] = std::current_exception();
      failed = true;
    }
  };
  {
    std::vector<std::jthread> threads;
    for (unsigned t = 1; t < depth; ++t) threads.emplace_back(work, t);
    work(0);
  }
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  sync_file(whole, path);  // one inode: the buffered pieces too
  return true;
}

std::uint64_t read_file(const std::filesystem::path& path, std::size_t chunk,
                        const ChunkCallback& callback) {
  const Fd fd(path, O_RDONLY, "cannot open");
  std::vector<std::byte> buffer(chunk);
  return read_to_end(fd, path, buffer, false, callback);
}

std::optional<std::uint64_t> read_file_direct(const std::filesystem::path& path, std::size_t chunk,
                                              const ChunkCallback& callback) {
  if (!direct_io_available(path, O_RDONLY)) return std::nullopt;
  const Fd fd(path, O_RDONLY | O_DIRECT, "cannot open");
  std::unique_ptr<std::byte, decltype(&std::free)> buffer(
      static_cast<std::byte*>(std::aligned_alloc(kDirectBlock, chunk)), &std::free);
  if (!buffer) throw_errno(ENOMEM, path, "cannot allocate a read buffer");
  return read_to_end(fd, path, {buffer.get(), chunk}, true, callback);
}

double dirty_and_msync(const std::filesystem::path& path, std::size_t size,
                       const std::function<void(std::span<std::byte>)>& dirty) {
  if (size == 0) return 0;
  const Fd fd(path, O_RDWR, "cannot open");
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) throw_errno(errno, path, "cannot map");
  struct Unmap {
    void* p;
    std::size_t size;
    ~Unmap() { ::munmap(p, size); }
  } unmap{p, size};
  // Mapped and faulted in as MmapFile::create maps its file (huge-page
  // advice, pages read in): the same page-cache folios and a fill as fast,
  // so that the kernel's background write-back has taken as much of the data
  // when the sync starts. (Left to fault on first write, the fill takes
  // 0.6-8 s at 4 GiB, and the sync that follows finds less to write.)
  ::madvise(p, size, MADV_HUGEPAGE);  // a preference: a refusal is fine
  fault_in_for_reading(static_cast<std::byte*>(p), size, path);
  dirty({static_cast<std::byte*>(p), size});
  const auto start = std::chrono::steady_clock::now();
  if (::msync(p, size, MS_SYNC) != 0) throw_errno(errno, path, "cannot msync");
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void evict_from_page_cache(const std::filesystem::path& path) {
  const Fd fd(path, O_RDONLY, "cannot open");
  if (::fdatasync(fd.get()) != 0) throw_errno(errno, path, "cannot sync");
  const int error = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (error != 0) throw_errno(error, path, "cannot drop from the page cache");
}

std::optional<std::uint64_t> storage_io_bytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  std::uint64_t total = 0;
  int found = 0;
  while (io >> key >> value) {
    if (key == "read_bytes:" || key == "write_bytes:") {
      total += value;
      ++found;
    }
  }
  if (found != 2) return std::nullopt;
  return total;
}

Child Child::start(const std::function<int(const Send& send)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, {}, "cannot make a pipe");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw_errno(err, {}, "cannot start a child process");
  }
  if (pid == 0) {
    ::close(fds[0]);
    int status = 90;
    try {
      status = body([fd = fds[1]](std::uint64_t value) {
        if (::write(fd, &value, sizeof value) != sizeof value) ::_exit(91);
      });
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child process: %s\n", e.what());
    }
    ::_exit(status);
  }
  ::close(fds[1]);
  return Child(pid, fds[0]);
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pipe_(std::exchange(other.pipe_, -1)) {}

Child::~Child() {
  if (pid_ > 0) wait();
  if (pipe_ >= 0) ::close(pipe_);
}

std::optional<std::uint64_t> Child::receive() const {
  std::uint64_t value = 0;
  std::size_t got = 0;
  while (got < sizeof value) {
    const ssize_t n = ::read(pipe_, reinterpret_cast<char*>(&value) + got, sizeof value - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    got += static_cast<std::size_t>(n);
  }
  return value;
}

int Child::wait() {
  int status = 0;
  while (::waitpid(static_cast<pid_t>(pid_), &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

AnonymousMemory AnonymousMemory::map_populated_parallel(std::size_t size, unsigned threads) {
  if (size == 0) return AnonymousMemory(nullptr, 0);
  if (threads == 0) threads = 1;
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  // Over-map by one huge page so the slices can start on 2 MiB boundaries.
  const std::size_t mapped = size + kHuge;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno(errno, {}, "cannot map " + std::to_string(size) + " bytes");
  auto* base = static_cast<std::byte*>(p);
  const auto addr = reinterpret_cast<std::uintptr_t>(base);
  const std::size_t lead = ((addr + kHuge - 1) / kHuge * kHuge) - addr;
  if (lead > 0) ::munmap(base, lead);
  if (kHuge - lead > 0) ::munmap(base + lead + size, kHuge - lead);
  AnonymousMemory memory(base + lead, size);
  ::madvise(memory.data_, size, MADV_HUGEPAGE);  // a preference: a refusal is fine
  const std::size_t huge_pages = (size + kHuge - 1) / kHuge;
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, huge_pages));
  std::vector<int> errors(threads, 0);
  auto work = [&](unsigned t) {
    const std::size_t begin = std::min(size, huge_pages * t / threads * kHuge);
    const std::size_t end = std::min(size, huge_pages * (t + 1) / threads * kHuge);
    if (end <= begin) return;
#ifdef MADV_POPULATE_WRITE
    if (::madvise(memory.data_ + begin, end - begin, MADV_POPULATE_WRITE) == 0) return;
    if (errno != EINVAL) {
      errors[t] = errno;
      return;
    }
#endif
    const std::size_t step = page_size();
    for (std::size_t offset = begin; offset < end; offset += step) {
      *static_cast<volatile std::byte*>(memory.data_ + offset) = std::byte{0};
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
  }
  for (int error : errors) {
    if (error != 0) throw_errno(error, {}, "cannot fault in " + std::to_string(size) + " bytes");
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

AnonymousMemory::~AnonymousMemory() {
  unmap();
}

void AnonymousMemory::unmap() noexcept {
  if (data_ != nullptr) {
    ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }
}

}  // namespace datatier::cli::os
