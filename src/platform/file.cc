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
#include "platform/retry.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

// Largest transfer per system call: Linux moves at most about 2 GiB per call.
constexpr std::size_t kMaxTransfer = std::size_t{1} << 30;

}  // namespace

UniqueFd open_checked(int dirfd, const std::filesystem::path& name,
                      const std::filesystem::path& shown, int flags, mode_t mode,
                      const char* what) {
  if (name.empty()) {
    throw Error(std::make_error_code(std::errc::invalid_argument), shown,
                std::string(what) + ": empty path");
  }
  const int fd =
      retry_eintr([&] { return syscalls().openat(dirfd, name.c_str(), flags | O_CLOEXEC, mode); });
  if (fd < 0) throw_errno(errno, shown, what);
  return UniqueFd(fd);
}

UniqueFd duplicate_fd(int fd) {
  const int copy = syscalls().fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw_errno(errno, {}, "cannot duplicate a descriptor");
  return UniqueFd(copy);
}

void UniqueFd::reset() noexcept {
  if (fd_ >= 0) {
    syscalls().close(fd_);
    fd_ = -1;
  }
}

File File::open(const std::filesystem::path& path, Access access) {
  return open_regular(AT_FDCWD, path, path, access, 0);
}

File File::open_regular(int dirfd, const std::filesystem::path& name,
                        const std::filesystem::path& shown, Access access, int flags) {
  // O_NONBLOCK, so that opening a FIFO cannot wait for a writer forever; it
  // is refused below like every file that is not a regular one, and the flag
  // is cleared again for a regular file.
  flags |= (access == Access::read_only ? O_RDONLY : O_RDWR) | O_NONBLOCK;
  const std::filesystem::path& path = shown;
  File file(open_checked(dirfd, name, shown, flags, 0, "cannot open"), shown);
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
  return File(open_checked(AT_FDCWD, path, path, O_RDWR | O_CREAT | O_EXCL, mode, "cannot create"),
              path);
}

std::optional<File> File::open_direct() const {
  for (;;) {
    const int fd = syscalls().openat(AT_FDCWD, path_.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC, 0);
    if (fd >= 0) return File(UniqueFd(fd), path_);
    if (errno == EINVAL) return std::nullopt;  // the file system has no direct I/O
    if (errno != EINTR) throw_errno(errno, path_, "cannot open for direct I/O");
  }
}

bool FileStatus::regular() const noexcept {
  return S_ISREG(mode);
}

bool FileStatus::directory() const noexcept {
  return S_ISDIR(mode);
}

mode_t FileStatus::permissions() const noexcept {
  return mode & 07777;
}

FileStatus status_of(const struct stat& st) noexcept {
  FileStatus status;
  status.id = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  status.links = static_cast<std::uint64_t>(st.st_nlink);
  status.mode = st.st_mode;
  status.owner = st.st_uid;
  status.group = st.st_gid;
  status.size = static_cast<std::uint64_t>(st.st_size);
  return status;
}

FileStatus File::status() const {
  struct stat st {};
  if (syscalls().fstat(fd(), &st) != 0) throw_errno(errno, path_, "cannot stat");
  return status_of(st);
}

std::uint64_t File::size() const {
  const FileStatus st = status();
  if (!st.regular()) throw_errno(st.directory() ? EISDIR : EINVAL, path_, "not a regular file");
  return st.size;
}

void File::set_mode(mode_t mode) const {
  if (retry_eintr([&] { return syscalls().fchmod(fd(), mode); }) != 0) {
    throw_errno(errno, path_, "cannot set permissions");
  }
}

void File::set_owner(uid_t owner, gid_t group) const {
  if (retry_eintr([&] { return syscalls().fchown(fd(), owner, group); }) != 0) {
    throw_errno(errno, path_, "cannot set owner");
  }
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
  reserve(size);
}

void File::reserve(std::uint64_t size) const {
  if (size == 0) return;
  const auto length = static_cast<off_t>(size);
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

namespace {

bool try_lock(const File& file, int operation) {
  if (retry_eintr([&] { return syscalls().flock(file.fd(), operation | LOCK_NB); }) == 0) {
    return true;
  }
  if (errno == EWOULDBLOCK) return false;
  throw_errno(errno, file.path(), "cannot lock");
}

}  // namespace

bool File::try_lock_exclusive() const {
  return try_lock(*this, LOCK_EX);
}

bool File::try_lock_shared() const {
  return try_lock(*this, LOCK_SH);
}

}  // namespace datatier::platform
