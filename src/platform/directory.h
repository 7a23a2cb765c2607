// A directory held open, so that every name a pool uses is looked up, created,
// renamed, removed and made durable in that one directory, whatever happens to
// the path that named it (a later chdir, a renamed parent, a swapped link).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "platform/file.h"
#include "platform/unique_fd.h"

namespace datatier::platform {

// The absolute path of the file `path` names, resolved once: symbolic links
// in its directories and in its last component are followed (a link whose
// target does not exist yet resolves to that target). The last component
// need not exist; its directory must.
// Throws datatier::Error: std::errc::invalid_argument (an empty path, or one
// that ends in "/", "." or ".."), std::errc::too_many_symbolic_link_levels,
// or the errno of resolving the directory (no_such_file_or_directory, ...).
std::filesystem::path resolve_path(const std::filesystem::path& path);

// One directory, opened O_DIRECTORY. Entry names are single path components.
// Every method throws datatier::Error naming the entry (or the directory) and
// carrying errno. Move-only.
class Directory {
 public:
  // Opens the directory `path`.
  static Directory open(const std::filesystem::path& path);
  // The directory that `fd` (opened O_DIRECTORY, perhaps by another process)
  // is, known as `path`. Takes `fd`.
  static Directory adopt(UniqueFd fd, std::filesystem::path path) noexcept {
    return Directory(std::move(fd), std::move(path));
  }

  int fd() const noexcept { return fd_.get(); }

  const std::filesystem::path& path() const noexcept { return path_; }
  // path() / name, for messages.
  std::filesystem::path entry_path(const std::string& name) const { return path_ / name; }

  // What the entry `name` is, without following a symbolic link; nullopt when
  // there is no such entry.
  std::optional<FileStatus> entry(const std::string& name) const;

  // Opens the regular file `name` without following a symbolic link (ELOOP)
  // and without waiting on a FIFO; any other kind of file is refused (EISDIR,
  // EINVAL).
  File open_file(const std::string& name, File::Access access) const;
  // Creates the regular file `name` read-write with permission bits `mode`
  // (before the umask); EEXIST when any entry, a dangling symbolic link
  // included, has the name.
  File create_file(const std::string& name, mode_t mode) const;

  // Swaps the entries `a` and `b` in one atomic step (renameat2
  // RENAME_EXCHANGE). Returns false, changing nothing, where the file system
  // cannot exchange.
  bool exchange(const std::string& a, const std::string& b) const;
  // Atomically gives `from` the name `to`, replacing what `to` named.
  void rename(const std::string& from, const std::string& to) const;
  // Gives `from` the name `to` where no entry has that name; returns false,
  // changing nothing, where one has.
  bool rename_if_free(const std::string& from, const std::string& to) const;
  // Removes the entry `name` (not a directory); a missing entry is no error.
  void remove(const std::string& name) const;
  // Makes the directory's entries durable (fsync of the directory).
  void sync() const;

 private:
  Directory(UniqueFd fd, std::filesystem::path path) noexcept
      : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::filesystem::path path_;
};

}  // namespace datatier::platform
