// POSIX implementation of platform::Directory and path resolution.
#include "platform/directory.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "datatier/error.h"
#include "platform/retry.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

// Linux's own limit on links followed in one lookup.
constexpr int kMaxLinks = 40;

[[noreturn]] void throw_invalid(const std::filesystem::path& path, const std::string& what) {
  throw Error(std::make_error_code(std::errc::invalid_argument), path, what);
}

// Converts a std::filesystem failure into datatier's error.
[[noreturn]] void rethrow(const std::filesystem::filesystem_error& e,
                          const std::filesystem::path& path) {
  throw Error(e.code(), path, "cannot resolve the path");
}

}  // namespace

std::filesystem::path resolve_path(const std::filesystem::path& path) {
  if (path.empty()) throw_invalid(path, "empty path");
  const std::filesystem::path name = path.filename();
  if (name.empty() || name == "." || name == "..") {
    throw_invalid(path, "the path does not name a file");
  }
  try {
    std::filesystem::path resolved = std::filesystem::absolute(path);
    for (int links = 0;; ++links) {
      const auto status = std::filesystem::symlink_status(resolved);
      if (!std::filesystem::is_symlink(status)) break;
      if (links == kMaxLinks) {
        throw Error(std::make_error_code(std::errc::too_many_symbolic_link_levels), path,
                    "cannot resolve the path");
      }
      const std::filesystem::path target = std::filesystem::read_symlink(resolved);
      resolved = target.is_absolute() ? target : resolved.parent_path() / target;
      if (resolved.filename().empty()) throw_invalid(path, "a link names a directory");
    }
    return std::filesystem::canonical(resolved.parent_path()) / resolved.filename();
  } catch (const std::filesystem::filesystem_error& e) {
    rethrow(e, path);
  }
}

Directory Directory::open(const std::filesystem::path& path) {
  return Directory(open_checked(AT_FDCWD, path, path, O_RDONLY | O_DIRECTORY, 0,
                                "cannot open directory"),
                   path);
}

std::optional<FileStatus> Directory::entry(const std::string& name) const {
  struct stat st {};
  if (syscalls().fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    return status_of(st);
  }
  if (errno == ENOENT) return std::nullopt;
  throw_errno(errno, entry_path(name), "cannot stat");
}

File Directory::open_file(const std::string& name, File::Access access) const {
  return File::open_regular(fd_.get(), name, entry_path(name), access, O_NOFOLLOW);
}

File Directory::create_file(const std::string& name, mode_t mode) const {
  return File(open_checked(fd_.get(), name, entry_path(name),
                           O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode, "cannot create"),
              entry_path(name));
}

namespace {

int rename_in(int dirfd, const std::string& from, const std::string& to, unsigned flags) {
  return syscalls().renameat2(dirfd, from.c_str(), dirfd, to.c_str(), flags);
}

}  // namespace

bool Directory::exchange(const std::string& a, const std::string& b) const {
  if (rename_in(fd_.get(), a, b, RENAME_EXCHANGE) == 0) return true;
  if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) return false;
  throw_errno(errno, entry_path(a), "cannot exchange with '" + entry_path(b).string() + "'");
}

void Directory::rename(const std::string& from, const std::string& to) const {
  if (rename_in(fd_.get(), from, to, 0) != 0) {
    throw_errno(errno, entry_path(from), "cannot rename to '" + entry_path(to).string() + "'");
  }
}

bool Directory::rename_if_free(const std::string& from, const std::string& to) const {
  if (rename_in(fd_.get(), from, to, RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  // File systems without RENAME_NOREPLACE: look first. Another program may
  // create `to` in between, which a plain rename would then replace; no
  // program of ours names files this way.
  if (errno == EINVAL && !entry(to)) {
    rename(from, to);
    return true;
  }
  throw_errno(errno, entry_path(from), "cannot rename to '" + entry_path(to).string() + "'");
}

void Directory::remove(const std::string& name) const {
  if (syscalls().unlinkat(fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    throw_errno(errno, entry_path(name), "cannot remove");
  }
}

void Directory::sync() const {
  if (retry_eintr([&] { return syscalls().fsync(fd_.get()); }) != 0) {
    throw_errno(errno, path_, "cannot sync directory");
  }
}

}  // namespace datatier::platform
