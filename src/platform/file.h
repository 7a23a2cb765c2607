// An open file with its path: positioned I/O that never returns short, sizes,
// preallocation, syncs and an exclusive lock.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <utility>

#include "platform/unique_fd.h"

struct stat;

namespace datatier::platform {

class Directory;

// Which file a descriptor or a directory entry is: its device and inode.
struct FileId {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
};

// What fstat(2) says of a file, as far as datatier asks.
struct FileStatus {
  FileId id;
  std::uint64_t links = 0;  // directory entries naming it; 0 once removed
  mode_t mode = 0;          // type and permission bits
  uid_t owner = 0;
  gid_t group = 0;
  std::uint64_t size = 0;
  bool regular() const noexcept;
  bool directory() const noexcept;
  mode_t permissions() const noexcept;  // the permission bits of mode
};

FileStatus status_of(const struct stat& st) noexcept;

// openat(2) close-on-exec of `name` relative to `dirfd`, retrying EINTR.
// Throws datatier::Error naming `shown`, saying `what` failed.
UniqueFd open_checked(int dirfd, const std::filesystem::path& name,
                      const std::filesystem::path& shown, int flags, mode_t mode,
                      const char* what);

// A new descriptor, close-on-exec, for the open file `fd` refers to (fcntl
// F_DUPFD_CLOEXEC): it shares that open file's offset and flock lock.
// Throws datatier::Error (errno).
UniqueFd duplicate_fd(int fd);

// A file opened close-on-exec, remembered with its path so that every error
// names it. Every method throws datatier::Error carrying errno (or, for a file
// that ends early, errc::size_mismatch) and the path. Move-only.
// Alignment that direct I/O transfers keep: a page, which is a multiple of
// every device's logical block size in practice.
inline constexpr std::size_t kDirectIoAlignment = 4096;

class File {
 public:
  enum class Access { read_only, read_write };

  // Opens an existing regular file. Refuses directories (EISDIR) and every
  // other kind of file (EINVAL), without waiting on a FIFO.
  static File open(const std::filesystem::path& path, Access access);
  // Creates `path`, which must not exist (EEXIST otherwise), read-write with
  // permission bits `mode` (before the umask).
  static File create_new(const std::filesystem::path& path, mode_t mode);
  // The file that `fd` (perhaps opened by another process) is, known as
  // `path`. Takes `fd`.
  static File adopt(UniqueFd fd, std::filesystem::path path) noexcept {
    return File(std::move(fd), std::move(path));
  }
  // A second, independent descriptor for the same file with O_DIRECT, for
  // bulk transfers that bypass the page cache; std::nullopt where the file
  // system refuses direct I/O. Transfers through it must use addresses,
  // offsets and lengths that are multiples of kDirectIoAlignment.
  std::optional<File> open_direct() const;

  int fd() const noexcept { return fd_.get(); }
  const std::filesystem::path& path() const noexcept { return path_; }
  // Records that the file is now named `path` (for messages).
  void renamed(std::filesystem::path path) { path_ = std::move(path); }

  std::uint64_t size() const;
  FileStatus status() const;

  // Sets the permission bits (fchmod) and the owner (fchown; changing it
  // needs privilege).
  void set_mode(mode_t mode) const;
  void set_owner(uid_t owner, gid_t group) const;

  // Reads exactly out.size() bytes at `offset`, retrying EINTR and short
  // reads. Reaching end of file first is an error (errc::size_mismatch).
  void read_exact(std::span<std::byte> out, std::uint64_t offset) const;
  // Writes all of `in` at `offset`, retrying EINTR and short writes.
  void write_all(std::span<const std::byte> in, std::uint64_t offset) const;

  // Sets the size to exactly `size` bytes and reserves the disk blocks for it,
  // so later writes (also through a shared mapping) cannot fail for lack of
  // space. Falls back to a plain size change on file systems that cannot
  // preallocate.
  void allocate(std::uint64_t size) const;
  // Reserves the disk blocks of the first `size` bytes without changing the
  // size: holes of a sparse file get blocks now, so that writes and page
  // faults through a mapping cannot find the disk (or tmpfs) full later.
  // Does nothing on file systems that cannot preallocate.
  void reserve(std::uint64_t size) const;

  // Whether every page of bytes [offset, offset + length) is in the page
  // cache, so a buffered read of them costs no disk I/O. False where they are
  // not or the kernel cannot tell (cachestat(2) is Linux 6.5 and later): a
  // hint for choosing how to read, never an error.
  bool in_page_cache(std::uint64_t offset, std::uint64_t length) const noexcept;
  // Whether a page of bytes [offset, offset + length) may be dirty in the
  // page cache (written, not yet written back). True where the kernel cannot
  // tell; a hint as above.
  bool may_have_dirty_pages(std::uint64_t offset, std::uint64_t length) const noexcept;

  // Starts writing back the dirty pages of bytes [offset, offset + length)
  // without waiting for them (sync_file_range SYNC_FILE_RANGE_WRITE); only a
  // later sync makes them durable. A hint: where the kernel refuses, the
  // later sync writes them all.
  void start_writeback(std::uint64_t offset, std::uint64_t length) const noexcept;
  void sync_data() const;  // fdatasync
  void sync() const;       // fsync

  // Takes an exclusive advisory lock (flock) without waiting. Returns false if
  // another open file description holds one, in this process or another. The
  // lock goes with the descriptor: closing it, or the process dying, drops it.
  bool try_lock_exclusive() const;
  // The same with a shared lock: false while another holds an exclusive one.
  bool try_lock_shared() const;

 private:
  friend class Directory;
  friend void swap_descriptors(File& a, File& b) noexcept { std::swap(a.fd_, b.fd_); }

  // Opens the regular file `name`, relative to `dirfd` (a directory or
  // AT_FDCWD) with extra open flags `flags`; errors name `shown`.
  static File open_regular(int dirfd, const std::filesystem::path& name,
                           const std::filesystem::path& shown, Access access, int flags);

  File(UniqueFd fd, std::filesystem::path path) noexcept
      : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::filesystem::path path_;
};

}  // namespace datatier::platform
