// A save of a FileBackedMemory that runs while writers go on writing
// (FileBackedMemory::begin_flush()).
#pragma once

#include "datatier/cxx_standard.h"

#include <cstdint>
#include <memory>
#include <system_error>

namespace datatier {

namespace detail {
class FlushJob;
}  // namespace detail

// How far a background save has come, in bytes of data: `total` is what it
// takes (copies, hashes and, where they changed, writes), `done` what it has
// taken so far. done == total once the data is all in the spare file; the
// save then syncs and renames (see FileBackedMemory::flush()).
struct FlushProgress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

// The handle of one background save, returned by
// FileBackedMemory::begin_flush(). The save runs on a thread of its own
// whether or not the handle is kept: destroying the handle neither waits for
// nor stops it (the pool's next save, close() or destruction does, see
// FileBackedMemory). Move-only; a moved-from handle refers to no save, and
// every call on it but done() (true) and progress() (zeros) throws
// std::errc::invalid_argument.
// Thread safety: any number of threads may call the members of one handle
// (or of moved copies' handles) at once.
class BackgroundFlush {
 public:
  BackgroundFlush() noexcept;
  BackgroundFlush(BackgroundFlush&& other) noexcept;
  BackgroundFlush& operator=(BackgroundFlush&& other) noexcept;
  BackgroundFlush(const BackgroundFlush&) = delete;
  BackgroundFlush& operator=(const BackgroundFlush&) = delete;
  ~BackgroundFlush();

  // Waits until the save has ended. Returns if the new snapshot is durable
  // under the pool's name, as after flush(); throws what the save threw
  // (datatier::Error, as flush() documents; std::errc::operation_canceled
  // after cancel() or a Progress callback that returned false). Every call
  // returns or throws the same.
  void wait() const;
  // The same without exceptions: `ec` holds what wait() would throw, or is
  // cleared.
  void wait(std::error_code& ec) const noexcept;

  // Whether the save has ended (wait() would not block).
  bool done() const noexcept;

  // Bytes taken so far; see FlushProgress.
  FlushProgress progress() const noexcept;

  // Asks the save to stop, and returns without waiting. A save that has
  // not renamed its file yet stops: the pool file keeps the previous
  // snapshot, exactly, the marks the save took are put back for the next
  // save (whose spare is written whole, its index being gone), and wait()
  // throws std::errc::operation_canceled. A save past that point completes.
  void cancel() noexcept;

  // The largest memory held at once for copies of blocks writers were about
  // to change, in bytes: never more than FileOptions::copy_budget.
  std::uint64_t peak_copy_bytes() const noexcept;

 private:
  friend class FileBackedMemory;
  explicit BackgroundFlush(std::shared_ptr<detail::FlushJob> job) noexcept;
  const detail::FlushJob& job() const;

  std::shared_ptr<detail::FlushJob> job_;
};

}  // namespace datatier
