// Unix stream sockets (platform/unix_socket.h).
#include "platform/unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "datatier/error.h"
#include "platform/retry.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

// Descriptors one message may carry: more than any hand-off sends.
constexpr std::size_t kMaxDescriptors = 16;

sockaddr_un address_of(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string& text = path.native();
  if (text.empty() || text.size() >= sizeof address.sun_path) {
    throw_errno(ENAMETOOLONG, path,
                "a socket path must be 1 to " + std::to_string(sizeof address.sun_path - 1) +
                    " bytes long");
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return address;
}

UniqueFd new_socket(const std::filesystem::path& path) {
  const int fd = syscalls().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, path, "cannot create a socket");
  return UniqueFd(fd);
}

// Milliseconds left until `deadline` for poll(2), rounded up; 0 once passed.
int milliseconds_until(Deadline deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= Deadline::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, 1 << 30));
}

// Whether `fd` becomes ready for `events` by `deadline`; errors of poll(2)
// other than EINTR are thrown.
bool ready(int fd, short events, Deadline deadline, const std::filesystem::path& path,
           const char* what) {
  for (;;) {
    pollfd entry{fd, events, 0};
    const int n = syscalls().poll(&entry, 1, milliseconds_until(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) throw_errno(errno, path, what);
  }
}

std::optional<FileStatus> status_at(const std::filesystem::path& path) {
  struct stat st {};
  if (syscalls().fstatat(AT_FDCWD, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno(errno, path, "cannot stat");
  }
  return status_of(st);
}

}  // namespace

uid_t effective_user_id() noexcept {
  return ::geteuid();
}

UnixConnection UnixConnection::connect(const std::filesystem::path& path) {
  const sockaddr_un address = address_of(path);
  UniqueFd fd = new_socket(path);
  const auto* generic = reinterpret_cast<const sockaddr*>(&address);
  if (retry_eintr([&] { return syscalls().connect(fd.get(), generic, sizeof address); }) != 0) {
    throw_errno(errno, path, "cannot connect");
  }
  return UnixConnection(std::move(fd), path);
}

UnixConnection UnixConnection::connect(const std::filesystem::path& path, Deadline deadline) {
  // Short enough that a successor started first waits little once the
  // socket appears (a hand-off takes a few milliseconds), long enough to
  // cost nothing while it waits.
  constexpr int kRetryMs = 1;
  for (;;) {
    try {
      return connect(path);
    } catch (const Error& e) {
      const bool not_yet = e.code() == std::errc::no_such_file_or_directory ||
                           e.code() == std::errc::connection_refused;
      if (!not_yet) throw;
      if (std::chrono::steady_clock::now() >= deadline) {
        throw_errno(ETIMEDOUT, path, "nothing listened there in the time given");
      }
    }
    syscalls().poll(nullptr, 0, kRetryMs);
  }
}

PeerCredentials UnixConnection::peer() const {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (syscalls().getsockopt(fd_.get(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    throw_errno(errno, path_, "cannot read the peer's credentials");
  }
  return {static_cast<int>(credentials.pid), credentials.uid, credentials.gid};
}

bool UnixConnection::again(int error, short events, Deadline deadline, const char* what) const {
  if (error == EINTR) return true;
  if (error != EAGAIN) return false;
  if (!ready(fd_.get(), events, deadline, path_, what)) throw_errno(ETIMEDOUT, path_, what);
  return true;
}

void UnixConnection::send(std::span<const std::byte> bytes, std::span<const int> fds,
                          Deadline deadline) const {
  if (fds.size() > kMaxDescriptors) throw_errno(EINVAL, path_, "too many descriptors to send");
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxDescriptors)] = {};
  while (!bytes.empty()) {
    iovec part{const_cast<std::byte*>(bytes.data()), bytes.size()};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    if (!fds.empty()) {
      message.msg_control = control;
      message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* header = CMSG_FIRSTHDR(&message);
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_RIGHTS;
      header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = syscalls().sendmsg(fd_.get(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      const int error = errno;
      if (again(error, POLLOUT, deadline, "cannot send")) continue;
      if (error == EPIPE) throw_errno(ECONNRESET, path_, "cannot send: the peer closed");
      throw_errno(error, path_, "cannot send");
    }
    // The descriptors went with the first byte sent.
    fds = {};
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

void UnixConnection::receive(std::span<std::byte> out, std::vector<UniqueFd>* fds,
                             Deadline deadline) const {
  while (!out.empty()) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxDescriptors)] = {};
    iovec part{out.data(), out.size()};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = syscalls().recvmsg(fd_.get(), &message, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      const int error = errno;
      if (again(error, POLLIN, deadline, "cannot receive")) continue;
      throw_errno(error, path_, "cannot receive");
    }
    // Descriptors that arrived are owned at once, so that none leaks
    // whatever follows.
    std::vector<UniqueFd> arrived;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
        arrived.emplace_back(fd);
      }
    }
    if ((message.msg_flags & MSG_CTRUNC) != 0) {
      throw_errno(EMSGSIZE, path_, "cannot receive: more descriptors than expected");
    }
    if (fds != nullptr) {
      for (UniqueFd& fd : arrived) fds->push_back(std::move(fd));
    }
    if (n == 0) throw_errno(ECONNRESET, path_, "cannot receive: the peer closed the connection");
    out = out.subspan(static_cast<std::size_t>(n));
  }
}

UnixListener UnixListener::listen(const std::filesystem::path& path, mode_t mode) {
  const sockaddr_un address = address_of(path);
  UniqueFd fd = new_socket(path);
  // Linux gives the socket file the mode of the socket's inode (less the
  // umask): set before bind(), the file never has wider permissions.
  if (syscalls().fchmod(fd.get(), mode) != 0) throw_errno(errno, path, "cannot set the mode of");
  if (const auto existing = status_at(path)) {
    if (!S_ISSOCK(existing->mode)) {
      throw_errno(EADDRINUSE, path, "cannot listen: a file that is no socket has the name");
    }
    if (syscalls().unlinkat(AT_FDCWD, path.c_str(), 0) != 0 && errno != ENOENT) {
      throw_errno(errno, path, "cannot remove the old socket");
    }
  }
  const auto* generic = reinterpret_cast<const sockaddr*>(&address);
  if (syscalls().bind(fd.get(), generic, sizeof address) != 0) {
    throw_errno(errno, path, "cannot bind a socket to");
  }
  // From here the file is ours to remove.
  const auto bound = status_at(path);
  UnixListener listener(std::move(fd), path, bound ? bound->id : FileId{});
  if (syscalls().listen(listener.fd_.get(), 1) != 0) throw_errno(errno, path, "cannot listen on");
  return listener;
}

UnixListener::~UnixListener() {
  if (!fd_) return;
  try {
    const auto now = status_at(path_);
    if (now && now->id == id_) syscalls().unlinkat(AT_FDCWD, path_.c_str(), 0);
  } catch (...) {
    // Best effort: a socket file left behind is replaced by the next listen().
  }
}

std::optional<UnixConnection> UnixListener::accept(Deadline deadline) const {
  for (;;) {
    if (!ready(fd_.get(), POLLIN, deadline, path_, "cannot wait for a connection")) {
      return std::nullopt;
    }
    const int fd = syscalls().accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return UnixConnection(UniqueFd(fd), path_);
    // The connection may have gone again between poll and accept.
    if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
      throw_errno(errno, path_, "cannot accept a connection");
    }
  }
}

}  // namespace datatier::platform
