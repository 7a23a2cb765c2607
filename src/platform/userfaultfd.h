// userfaultfd(2): page faults on registered memory handed to a thread of this
// process, which fills the pages (or poisons them) and wakes the faulting
// threads. What a lazy open is built on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "platform/unique_fd.h"

namespace datatier::platform {

class UserFaultFd {
 public:
  // What the kernel offers beyond filling missing pages by copying
  // (UFFDIO_COPY, Linux 4.3).
  struct Features {
    bool move = false;    // UFFDIO_MOVE (Linux 6.8): whole pages moved into place, huge ones too
    bool poison = false;  // UFFDIO_POISON (Linux 6.6): a page whose touch raises SIGBUS
  };

  // A userfaultfd of this process that also handles faults the kernel takes
  // on the process's behalf (a read(2) into registered memory, say), with
  // the features above that the kernel has enabled. Tries the system call,
  // then /dev/userfaultfd. Returns nullopt, with the reason in *why, where
  // the process may not have one (no privilege with
  // vm.unprivileged_userfaultfd = 0, a seccomp filter, a kernel without
  // it). Throws datatier::Error for any other failure.
  static std::optional<UserFaultFd> open(std::string* why);

  UserFaultFd(UserFaultFd&&) noexcept = default;
  UserFaultFd& operator=(UserFaultFd&&) noexcept = default;

  const Features& features() const noexcept { return features_; }

  // Registers [address, address + length) (page-aligned, private anonymous
  // memory with no page present) for missing-page faults: from now on a
  // touch of a page not filled waits for fill(), move() or poison().
  // Throws datatier::Error.
  void register_missing(void* address, std::size_t length) const;
  // Ends the registration: faults waiting are woken and every later fault
  // is the kernel's again. Throws datatier::Error.
  void unregister(void* address, std::size_t length) const;

  // Moves the pages of [source, source + length) (private anonymous memory
  // of this process, each page present) to `destination`, which must have
  // none yet; huge pages whose both ends are aligned move whole. Wakes the
  // threads waiting there. Returns the bytes moved: `length`, or fewer
  // where the kernel would not move a page (shared, pinned, busy), which
  // stays at the source with the ones after it. Requires features().move.
  // Throws datatier::Error for anything else.
  std::size_t move(void* destination, void* source, std::size_t length) const;
  // Copies `length` bytes from `source` into new pages at `destination`
  // (none present yet) and wakes the threads waiting there.
  // Throws datatier::Error.
  void copy(void* destination, const void* source, std::size_t length) const;
  // Makes the pages of [address, address + length) raise SIGBUS when
  // touched, and wakes the threads waiting there (they get the signal).
  // Requires features().poison. Throws datatier::Error.
  void poison(void* address, std::size_t length) const;
  // Wakes the threads waiting on [address, address + length).
  // Throws datatier::Error.
  void wake(void* address, std::size_t length) const;

  // Waits up to `timeout_ms` for a page fault and returns its address;
  // nullopt after the timeout or an interrupting signal. Throws
  // datatier::Error.
  std::optional<std::uintptr_t> next_fault(int timeout_ms) const;

 private:
  UserFaultFd(UniqueFd fd, Features features) noexcept : fd_(std::move(fd)), features_(features) {}

  UniqueFd fd_;
  Features features_;
};

}  // namespace datatier::platform
