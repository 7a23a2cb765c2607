// Handing a FileBackedMemory to the next process without reloading it: what
// passes between the two, and what each side can count on.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>
#include <span>
#include <vector>

namespace datatier {

// A pool in transit: the open descriptors that carry it and the descriptor
// of its state (a few KiB, plus 32 bytes per block of its block index;
// docs/format.md, "Hand-off"). What FileBackedMemory::release() gives and
// FileBackedMemory::adopt() takes, for a hand-off through the caller's own
// channel: systemd's file-descriptor store, inheritance across execve(2).
//
// The descriptors, in order: the pool's memory file, its directory, its
// pool file and (when the pool held one) its spare file. The pool and
// spare files carry the pool's locks (flock(2), which belong to the open
// file, so they move with the descriptors and every duplicate of them):
// while any process holds one of these descriptors, no open() of the pool
// succeeds (errc::pool_in_use). They are close-on-exec; for execve(2),
// clear FD_CLOEXEC on each and pass their numbers and state() along.
//
// Owns its descriptors: destroying a HandOff that still holds them closes
// them, which gives up the pool as a crash would: its memory is lost, its
// pool file holds the snapshot the hand-off started from (release() saved
// it). Move-only; a moved-from HandOff is empty.
class HandOff {
 public:
  HandOff() noexcept = default;
  // Takes ownership of `fds` (as release() gave them, or as received).
  HandOff(std::vector<int> fds, std::vector<std::byte> state) noexcept;
  HandOff(HandOff&& other) noexcept;
  HandOff& operator=(HandOff&& other) noexcept;
  HandOff(const HandOff&) = delete;
  HandOff& operator=(const HandOff&) = delete;
  ~HandOff();

  std::span<const int> fds() const noexcept { return fds_; }
  std::span<const std::byte> state() const noexcept { return state_; }
  bool empty() const noexcept { return fds_.empty() && state_.empty(); }

  // Gives up ownership of the descriptors, which the caller closes or passes
  // on; state() stays.
  std::vector<int> release_fds() noexcept;

 private:
  void close_fds() noexcept;

  std::vector<int> fds_;
  std::vector<std::byte> state_;
};

// The hand-off through a Unix socket (FileBackedMemory::hand_off() and
// take_over()), and what it leaves:
//
//   predecessor                              successor
//   hand_off(socket, timeout)                take_over(socket, ...)
//     saves if anything changed                (waits for the socket)
//     listens at `socket` (mode 0600)   <-    connects
//     checks the peer's user id                checks the peer's user id
//     offer: state + descriptors        ->    checks size, versions; maps the
//                                              memory; verifies if asked
//                                       <-    accept (or reject + reason)
//     committed                         ->
//     lets the pool go: returns                returns the pool
//
// Until the predecessor reads `accept` it owns the pool: a timeout, a
// successor that rejects the pool, dies or is another user, leaves
// hand_off() throwing with the pool held and usable (flush() works, and a
// later hand_off() may try again). Once it has sent `committed`, the
// successor owns it. The successor returns the pool only after `committed`
// arrives: if the predecessor ends or gives up first, take_over() throws
// and closes what it received, and the predecessor still owns the pool. A
// successor that dies after sending `accept` but before reading
// `committed` takes the pool with it, as a crash of its owner would: the
// pool file holds the snapshot the hand-off started from.

}  // namespace datatier
