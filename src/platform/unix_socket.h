// Unix stream sockets between processes of one machine: a listener at a
// path, connections that carry bytes and open descriptors (SCM_RIGHTS), and
// the credentials of the process at the other end.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "platform/file.h"
#include "platform/unique_fd.h"

namespace datatier::platform {

// When a wait below gives up.
using Deadline = std::chrono::steady_clock::time_point;

// Who is at the other end of a connection, as the kernel recorded it when
// the connection was made (SO_PEERCRED).
struct PeerCredentials {
  int pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The effective user id of the calling process.
uid_t effective_user_id() noexcept;

// One end of a connected stream socket. Every method throws datatier::Error
// carrying errno: ETIMEDOUT when the deadline passes, ECONNRESET when the
// peer closed the connection (or ended) before all was sent or received.
// Move-only.
class UnixConnection {
 public:
  // Connects to the socket listening at `path`. Throws: datatier::Error —
  // ENOENT (no socket there yet), ECONNREFUSED (nothing listens on it),
  // EACCES (the caller may not reach or write it), ENAMETOOLONG (a path
  // longer than a socket address holds).
  static UnixConnection connect(const std::filesystem::path& path);
  // The same, waiting until `deadline` (ETIMEDOUT) for a socket to appear
  // and listen at `path`: ENOENT and ECONNREFUSED are tried again every few
  // milliseconds.
  static UnixConnection connect(const std::filesystem::path& path, Deadline deadline);

  // The process at the other end.
  PeerCredentials peer() const;

  // Sends all of `bytes`, the descriptors `fds` (duplicated into the
  // receiver; the caller keeps its own) with the first of them. Never
  // raises SIGPIPE. Requires: `bytes` non-empty when `fds` is.
  void send(std::span<const std::byte> bytes, std::span<const int> fds, Deadline deadline) const;

  // Receives exactly out.size() bytes. Descriptors sent with them are
  // appended to `fds` (close-on-exec), or closed when `fds` is null.
  void receive(std::span<std::byte> out, std::vector<UniqueFd>* fds, Deadline deadline) const;

 private:
  friend class UnixListener;
  UnixConnection(UniqueFd fd, std::filesystem::path path) noexcept
      : fd_(std::move(fd)), path_(std::move(path)) {}
  // After a call on the socket failed with `error`: true when it should be
  // made again, interrupted (EINTR) or ready again for `events` after it
  // would have blocked (EAGAIN; poll, or ETIMEDOUT thrown at the deadline);
  // false for any other error.
  bool again(int error, short events, Deadline deadline, const char* what) const;

  UniqueFd fd_;
  std::filesystem::path path_;  // for messages
};

// A socket listening at a path, removed when the listener is destroyed.
// Move-only.
class UnixListener {
 public:
  // Listens at `path` for connections, the socket file made with
  // permission bits `mode` from the start (no moment with wider ones). A
  // socket already at `path`, left by a process that ended, is replaced;
  // any other kind of file there is an error (EADDRINUSE).
  // Throws: datatier::Error (errno).
  static UnixListener listen(const std::filesystem::path& path, mode_t mode);

  UnixListener(UnixListener&&) noexcept = default;
  UnixListener& operator=(UnixListener&&) noexcept = default;
  // Removes the socket file, if `path` still names it. Never throws.
  ~UnixListener();

  // The next connection made, or nullopt when none comes by `deadline`.
  std::optional<UnixConnection> accept(Deadline deadline) const;

 private:
  UnixListener(UniqueFd fd, std::filesystem::path path, FileId id) noexcept
      : fd_(std::move(fd)), path_(std::move(path)), id_(id) {}

  UniqueFd fd_;
  std::filesystem::path path_;
  FileId id_;  // of the socket file, to remove only that
};

}  // namespace datatier::platform
