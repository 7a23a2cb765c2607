// userfaultfd through the system-call table; the requests newer than the
// oldest kernel headers we build against are declared here and probed at
// run time.
#include "platform/userfaultfd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <string>
#include <utility>

#include "platform/retry.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

// Linux 6.1: a userfaultfd from /dev/userfaultfd, where the device's
// permissions, not vm.unprivileged_userfaultfd, decide.
constexpr unsigned long kIocNew = _IO(0xAA, 0x00);

// Linux 6.6 (UFFDIO_POISON) and 6.8 (UFFDIO_MOVE): the kernel's own layout.
constexpr std::uint64_t kFeaturePoison = std::uint64_t{1} << 14;
constexpr std::uint64_t kFeatureMove = std::uint64_t{1} << 16;
struct Poison {
  uffdio_range range;
  std::uint64_t mode;
  std::int64_t updated;
};
struct Move {
  std::uint64_t dst;
  std::uint64_t src;
  std::uint64_t len;
  std::uint64_t mode;
  std::int64_t move;
};
constexpr unsigned long kPoison = _IOWR(UFFDIO, 0x08, Poison);
constexpr unsigned long kMove = _IOWR(UFFDIO, 0x05, Move);

// The errors that mean "not for this process here", as opposed to a fault.
bool refused(int err) {
  return err == EPERM || err == EACCES || err == ENOSYS || err == ENOENT || err == ENODEV ||
         err == EINVAL || err == ENOTTY;
}

// A new userfaultfd, not yet through its API handshake: by the system call,
// or from /dev/userfaultfd. -1 with errno when both are refused; `why` then
// says what each said.
int new_descriptor(std::string* why) {
  const int flags = O_CLOEXEC | O_NONBLOCK;
  const int fd = syscalls().userfaultfd(flags);
  if (fd >= 0) return fd;
  const int call_error = errno;
  if (!refused(call_error)) return -1;
  const auto say_why = [&](int device_error) {
    *why = "userfaultfd: " + std::error_code(call_error, std::system_category()).message() +
           "; /dev/userfaultfd: " + std::error_code(device_error, std::system_category()).message();
  };
  const int device = retry_eintr(
      [&] { return syscalls().openat(AT_FDCWD, "/dev/userfaultfd", O_RDWR | O_CLOEXEC, 0); });
  if (device < 0) {
    say_why(errno);
    errno = call_error;
    return -1;
  }
  const UniqueFd held(device);
  const int fd_from_device =
      syscalls().ioctl(device, kIocNew, reinterpret_cast<void*>(static_cast<std::uintptr_t>(flags)));
  if (fd_from_device < 0) say_why(errno);
  return fd_from_device;
}

// The API handshake asking for `features`; the kernel's offer in *offered.
int handshake(int fd, std::uint64_t features, std::uint64_t* offered) {
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features;
  const int rc = syscalls().ioctl(fd, UFFDIO_API, &api);
  if (rc == 0) *offered = api.features;
  return rc;
}

void check(int rc, const char* what) {
  if (rc != 0) throw_errno(errno, {}, what);
}

}  // namespace

std::optional<UserFaultFd> UserFaultFd::open(std::string* why) {
  // A handshake fixes a descriptor's features, so the first one only asks
  // the kernel what it has.
  std::uint64_t offered = 0;
  {
    const int probe = new_descriptor(why);
    if (probe < 0) {
      if (refused(errno)) return std::nullopt;
      throw_errno(errno, {}, "cannot make a userfaultfd");
    }
    const UniqueFd held(probe);
    if (handshake(probe, 0, &offered) != 0) {
      *why = "the userfaultfd API handshake failed: " +
             std::error_code(errno, std::system_category()).message();
      return std::nullopt;
    }
  }
  const std::uint64_t wanted = offered & (kFeaturePoison | kFeatureMove);
  const int fd = new_descriptor(why);
  if (fd < 0) throw_errno(errno, {}, "cannot make a userfaultfd");
  UniqueFd held(fd);
  std::uint64_t enabled = 0;
  check(handshake(fd, wanted, &enabled), "the userfaultfd API handshake failed");
  Features features;
  features.poison = (wanted & kFeaturePoison) != 0;
  features.move = (wanted & kFeatureMove) != 0;
  return UserFaultFd(std::move(held), features);
}

void UserFaultFd::register_missing(void* address, std::size_t length) const {
  uffdio_register request{};
  request.range = {reinterpret_cast<std::uintptr_t>(address), length};
  request.mode = UFFDIO_REGISTER_MODE_MISSING;
  check(syscalls().ioctl(fd_.get(), UFFDIO_REGISTER, &request),
        "cannot register memory with userfaultfd");
}

void UserFaultFd::unregister(void* address, std::size_t length) const {
  uffdio_range range{reinterpret_cast<std::uintptr_t>(address), length};
  check(syscalls().ioctl(fd_.get(), UFFDIO_UNREGISTER, &range),
        "cannot unregister memory from userfaultfd");
}

std::size_t UserFaultFd::move(void* destination, void* source, std::size_t length) const {
  Move request{reinterpret_cast<std::uintptr_t>(destination),
               reinterpret_cast<std::uintptr_t>(source), length, 0, 0};
  std::size_t moved = 0;
  while (syscalls().ioctl(fd_.get(), kMove, &request) != 0) {
    const int err = errno;
    // Cut short: `move` holds the bytes moved (or a negative errno).
    const std::uint64_t done = request.move > 0 ? static_cast<std::uint64_t>(request.move) : 0;
    moved += static_cast<std::size_t>(done);
    if (err == EAGAIN || err == EINTR) {
      request = {request.dst + done, request.src + done, request.len - done, 0, 0};
      continue;
    }
    // Pages the kernel will not move (shared, pinned, busy): the caller
    // copies them instead.
    if (err == EBUSY) return moved;
    throw_errno(err, {}, "cannot move pages into place (UFFDIO_MOVE)");
  }
  return length;
}

void UserFaultFd::copy(void* destination, const void* source, std::size_t length) const {
  uffdio_copy request{reinterpret_cast<std::uintptr_t>(destination),
                      reinterpret_cast<std::uintptr_t>(source), length, 0, 0};
  while (syscalls().ioctl(fd_.get(), UFFDIO_COPY, &request) != 0) {
    const int err = errno;
    // Cut short (EAGAIN, with what was copied in `copy`): go on from there.
    if ((err == EAGAIN || err == EINTR) && request.copy >= 0) {
      const auto done = static_cast<std::uint64_t>(request.copy);
      request = {request.dst + done, request.src + done, request.len - done, 0, 0};
      continue;
    }
    throw_errno(err, {}, "cannot fill pages (UFFDIO_COPY)");
  }
}

void UserFaultFd::poison(void* address, std::size_t length) const {
  Poison request{{reinterpret_cast<std::uintptr_t>(address), length}, 0, 0};
  while (syscalls().ioctl(fd_.get(), kPoison, &request) != 0) {
    const int err = errno;
    if ((err == EAGAIN || err == EINTR) && request.updated >= 0) {
      const auto done = static_cast<std::uint64_t>(request.updated);
      request = {{request.range.start + done, request.range.len - done}, 0, 0};
      continue;
    }
    throw_errno(err, {}, "cannot poison pages (UFFDIO_POISON)");
  }
}

void UserFaultFd::wake(void* address, std::size_t length) const {
  uffdio_range range{reinterpret_cast<std::uintptr_t>(address), length};
  check(syscalls().ioctl(fd_.get(), UFFDIO_WAKE, &range), "cannot wake faulting threads");
}

std::optional<std::uintptr_t> UserFaultFd::next_fault(int timeout_ms) const {
  pollfd ready{fd_.get(), POLLIN, 0};
  const int rc = syscalls().poll(&ready, 1, timeout_ms);
  if (rc < 0 && errno != EINTR) throw_errno(errno, {}, "cannot wait for page faults");
  if (rc <= 0) return std::nullopt;
  uffd_msg message{};
  const ssize_t got = syscalls().read(fd_.get(), &message, sizeof message);
  if (got < 0) {
    if (errno == EAGAIN || errno == EINTR) return std::nullopt;
    throw_errno(errno, {}, "cannot read a page fault");
  }
  if (got != sizeof message || message.event != UFFD_EVENT_PAGEFAULT) return std::nullopt;
  return static_cast<std::uintptr_t>(message.arg.pagefault.address);
}

}  // namespace datatier::platform
