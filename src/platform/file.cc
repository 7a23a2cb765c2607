// POSIX implementation of platform::File and the directory operations.
#include "platform/file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <limits>
#include <string>

#include "datatier/error.h"
#include "platform/mapping.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

// Largest transfer per system call: Linux moves at most about 2 GiB per call.
constexpr std::size_t kMaxTransfer = std::size_t{1} << 30;

UniqueFd open_checked(const std::filesystem::path& path, int flags, mode_t mode, const char* what) {
  if (path.empty()) {
    throw Error(std::make_error_code(std::errc::invalid_argument), path,
                std::string(what) + ": empty path");
  }
  for (;;) {
    const int fd = syscalls().openat(AT_FDCWD, path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EINTR) throw_errno(errno, path, what);
  }
}

// Calls `op` until it does not fail with EINTR; returns its last result.
template <typename Op>
int retry_eintr(Op op) {
  int rc;
  do {
    rc = op();
  } while (rc < 0 && errno == EINTR);
  return rc;
}

}  // namespace

void UniqueFd::reset() noexcept {
  if (fd_ >= 0) {
    syscalls().close(fd_);
    fd_ = -1;
  }
}

File File::open(const std::filesystem::path& path, Access access) {
  // O_NONBLOCK, so that opening a FIFO cannot wait for a writer forever; it
  // is refused below like every file that is not a regular one, and the flag
  // is cleared again for a regular file.
  const int flags = (access == Access::read_only ? O_RDONLY : O_RDWR) | O_NONBLOCK;
  File file(open_checked(path, flags, 0, "cannot open"), path);
  struct stat st {};
  if (syscalls().fstat(file.fd(), &st) != 0) throw_errno(errno, path, "cannot stat");
  if (S_ISDIR(st.st_mode)) throw_errno(EISDIR, path, "cannot open");
  if (!S_ISREG(st.st_mode)) throw_errno(EINVAL, path, "not a regular file");
  if (syscalls().fcntl(file.fd(), F_SETFL, 0) != 0) {
    throw_errno(errno, path, "cannot clear O_NONBLOCK");
  }
  return file;
}

File File::create_new(const std::filesystem::path& path, mode_t mode) {
  return File(open_checked(path, O_RDWR | O_CREAT | O_EXCL, mode, "cannot create"), path);
}

File File::open_or_create(const std::filesystem::path& path, mode_t mode, bool* created) {
  // Creating exclusively first tells for certain whether this call made the
  // file, also while another program creates or removes it. A file removed
  // between the two opens is tried again; a dangling symbolic link, which
  // looks the same every time, is not tried forever.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    int fd = retry_eintr(
        [&] { return syscalls().openat(AT_FDCWD, path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode); });
    if (fd >= 0 || errno != EEXIST) {
      if (fd < 0) throw_errno(errno, path, "cannot create");
      if (created != nullptr) *created = true;
      return File(UniqueFd(fd), path);
    }
    fd = retry_eintr([&] { return syscalls().openat(AT_FDCWD, path.c_str(), O_RDWR | O_CLOEXEC, 0); });
    if (fd >= 0) {
      if (created != nullptr) *created = false;
      return File(UniqueFd(fd), path);
    }
    if (errno != ENOENT || attempt == kAttempts) throw_errno(errno, path, "cannot open");
  }
}

std::optional<File> File::open_direct() const {
  for (;;) {
    const int fd = syscalls().openat(AT_FDCWD, path_.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC, 0);
    if (fd >= 0) return File(UniqueFd(fd), path_);
    if (errno == EINVAL) return std::nullopt;  // the file system has no direct I/O
    if (errno != EINTR) throw_errno(errno, path_, "cannot open for direct I/O");
  }
}

std::uint64_t File::size() const {
  struct stat st {};
  if (syscalls().fstat(fd(), &st) != 0) throw_errno(errno, path_, "cannot stat");
  if (!S_ISREG(st.st_mode)) {
    throw_errno(S_ISDIR(st.st_mode) ? EISDIR : EINVAL, path_, "not a regular file");
  }
  return static_cast<std::uint64_t>(st.st_size);
}

void File::read_exact(std::span<std::byte> out, std::uint64_t offset) const {
  while (!out.empty()) {
    const std::size_t want = std::min(out.size(), kMaxTransfer);
    const ssize_t got = syscalls().pread(fd(), out.data(), want, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path_, "cannot read at offset " + std::to_string(offset));
    }
    if (got == 0) {
      throw Error(errc::size_mismatch, path_,
                  "file ended at offset " + std::to_string(offset) + " while " +
                      std::to_string(out.size()) + " more bytes were expected");
    }
    out = out.subspan(static_cast<std::size_t>(got));
    offset += static_cast<std::uint64_t>(got);
  }
}

void File::write_all(std::span<const std::byte> in, std::uint64_t offset) const {
  while (!in.empty()) {
    const std::size_t want = std::min(in.size(), kMaxTransfer);
    const ssize_t put = syscalls().pwrite(fd(), in.data(), want, static_cast<off_t>(offset));
    if (put < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path_, "cannot write at offset " + std::to_string(offset));
    }
    // pwrite returns 0 only for a zero-length request; treat it as no space
    // rather than spin.
    if (put == 0) throw_errno(ENOSPC, path_, "cannot write at offset " + std::to_string(offset));
    in = in.subspan(static_cast<std::size_t>(put));
    offset += static_cast<std::uint64_t>(put);
  }
}

void File::allocate(std::uint64_t size) const {
  if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    throw_errno(EFBIG, path_, "cannot size file to " + std::to_string(size) + " bytes");
  }
  const auto length = static_cast<off_t>(size);
  if (retry_eintr([&] { return syscalls().ftruncate(fd(), length); }) != 0) {
    throw_errno(errno, path_, "cannot set size to " + std::to_string(size) + " bytes");
  }
  if (size == 0) return;
  if (retry_eintr([&] { return syscalls().fallocate(fd(), 0, 0, length); }) != 0) {
    // File systems without preallocation still hold the file at its size;
    // any other failure (ENOSPC above all) must surface now, not later as a
    // SIGBUS in a mapping.
    if (errno != EOPNOTSUPP && errno != ENOSYS) {
      throw_errno(errno, path_, "cannot reserve " + std::to_string(size) + " bytes");
    }
  }
}

namespace {

// The page-cache counts of the whole pages around bytes [offset, offset +
// length) and how many pages those are; nullopt where the kernel cannot tell.
std::optional<PageCacheCounts> page_cache_counts(int fd, std::uint64_t offset, std::uint64_t length,
                                                 std::uint64_t& pages) {
  const std::uint64_t page = page_size();
  const std::uint64_t first = offset / page;
  pages = (offset + length + page - 1) / page - first;
  PageCacheCounts counts;
  if (syscalls().cachestat(fd, first * page, pages * page, &counts) != 0) return std::nullopt;
  return counts;
}

}  // namespace

bool File::in_page_cache(std::uint64_t offset, std::uint64_t length) const noexcept {
  if (length == 0) return true;
  std::uint64_t pages = 0;
  const auto counts = page_cache_counts(fd(), offset, length, pages);
  return counts && counts->cached == pages;
}

bool File::may_have_dirty_pages(std::uint64_t offset, std::uint64_t length) const noexcept {
  if (length == 0) return false;
  std::uint64_t pages = 0;
  const auto counts = page_cache_counts(fd(), offset, length, pages);
  return !counts || counts->dirty > 0;
}

void File::start_writeback(std::uint64_t offset, std::uint64_t length) const noexcept {
  syscalls().sync_file_range(fd(), static_cast<off_t>(offset), static_cast<off_t>(length),
                             SYNC_FILE_RANGE_WRITE);
}

void File::sync_data() const {
  if (retry_eintr([&] { return syscalls().fdatasync(fd()); }) != 0) {
    throw_errno(errno, path_, "cannot sync data");
  }
}

void File::sync() const {
  if (retry_eintr([&] { return syscalls().fsync(fd()); }) != 0) {
    throw_errno(errno, path_, "cannot sync");
  }
}

bool File::try_lock_exclusive() const {
  if (retry_eintr([&] { return syscalls().flock(fd(), LOCK_EX | LOCK_NB); }) == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  throw_errno(errno, path_, "cannot lock");
}

bool exchange_files(const std::filesystem::path& a, const std::filesystem::path& b) {
  if (syscalls().renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) {
    return true;
  }
  if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) return false;
  throw_errno(errno, a, "cannot exchange with '" + b.string() + "'");
}

void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (syscalls().renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), 0) != 0) {
    throw_errno(errno, from, "cannot rename to '" + to.string() + "'");
  }
}

void sync_directory(const std::filesystem::path& dir) {
  const std::filesystem::path name = dir.empty() ? std::filesystem::path(".") : dir;
  UniqueFd fd = open_checked(name, O_RDONLY | O_DIRECTORY, 0, "cannot open directory");
  if (retry_eintr([&] { return syscalls().fsync(fd.get()); }) != 0) {
    throw_errno(errno, name, "cannot sync directory");
  }
}

void remove_file(const std::filesystem::path& path) {
  if (syscalls().unlinkat(AT_FDCWD, path.c_str(), 0) != 0 && errno != ENOENT) {
    throw_errno(errno, path, "cannot remove");
  }
}

}  // namespace datatier::platform
