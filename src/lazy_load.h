// The background load of a lazily opened pool (FileOptions::lazy): the
// pool's memory is registered with userfaultfd, threads read it in order,
// verify every block against the block index and only then put its pages in
// place; a thread touching a page not yet there waits while its unit is
// fetched first.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "block_index.h"
#include "bulk_io.h"
#include "checksum.h"
#include "datatier/lazy_load.h"
#include "datatier/memory_options.h"
#include "platform/mapping.h"
#include "platform/thread.h"
#include "platform/userfaultfd.h"

namespace datatier::detail {

class LazyLoad {
 public:
  // What the load needs to know besides the file.
  struct Settings {
    bool salvage = false;  // damaged blocks become zeros; else they are poisoned
    DamageHandler on_damage;
    NumaPolicy numa = NumaPolicy::local;  // where the pages are placed, as the pool's
    int numa_node = -1;
    bool huge_pages = true;  // the pool's memory is advised for transparent huge pages
  };

  // Takes `memory` (the pool's, reserved: no page present, page_bytes per
  // page) under `uffd`: from now on a touch of it waits for the load.
  // `header` is the covered header of the snapshot, `layout` its blocks.
  // Throws datatier::Error (registration, the staging memory).
  LazyLoad(platform::UserFaultFd uffd, std::span<std::byte> memory, std::size_t page_bytes,
           const BlockLayout& layout, const CoveredHeader& header, Settings settings);
  LazyLoad(const LazyLoad&) = delete;
  LazyLoad& operator=(const LazyLoad&) = delete;
  // Stops the load if it runs, waits for its threads, ends the registration
  // (faults still waiting are then the kernel's: a pool destroyed while
  // read is the caller's error).
  ~LazyLoad();

  // Loads, on the calling thread, the unit that holds the first block (and
  // the header). False when the first block is damaged: nothing of that
  // unit was installed, and the caller abandons the lazy load. `file` and
  // `index` are used during the call only. Throws datatier::Error.
  bool load_first(const DataFile& file, const BlockIndex& index);

  // Loads the rest: on threads of its own that end when every unit is in.
  // False where the system refused some: the threads that started do their
  // work, or, with none to read in order, the calling thread reads before
  // this returns (with no thread for faults, every unit). `file` and `index` must stay valid and unchanged
  // until wait() has returned or this is destroyed.
  bool start(const DataFile& file, const BlockIndex& index);

  // Waits until every unit is in, the registration ended and the threads
  // are gone. Any thread; idempotent.
  void wait();

  LoadProgress progress() const noexcept;

  // After wait(): the damaged blocks found (ascending) with the values
  // their bytes gave, and the first error that kept a unit from loading
  // (its pages are poisoned), if any.
  std::map<std::uint64_t, ChainingValue> damaged() const;
  std::exception_ptr failure() const;

 private:
  struct Staging;
  enum State : std::uint8_t { kPending, kLoading, kIn };

  // The end of unit `u`'s data bytes, which begin at u * unit_bytes_.
  std::uint64_t unit_end(std::uint64_t u) const noexcept {
    return std::min((u + 1) * unit_bytes_, std::uint64_t{memory_.size()});
  }
  // Claims unit `u` for loading; false when another thread has it.
  bool claim(std::uint64_t u) noexcept;
  // Reads, verifies and installs claimed unit `u`; never throws (a failure
  // is recorded and the unit poisoned).
  void load(std::uint64_t u, Staging& staging) noexcept;
  void load_or_throw(std::uint64_t u, Staging& staging);
  // Installs the unit's bytes held in `staging`, poisoning `bad` (sorted
  // data ranges inside the unit).
  void install(std::uint64_t u, Staging& staging, const std::vector<ByteRange>& bad);
  // Records that unit `u` is in; the last one lets the fault thread finish.
  void unit_done(std::uint64_t u) noexcept;
  // The reading threads' loop, and the fault thread's.
  void read_in_order(Staging& staging) noexcept;
  void serve_faults(Staging& staging) noexcept;
  // Ends the registration, restores huge pages, wakes wait().
  void finish() noexcept;
  void record_failure(std::exception_ptr error) noexcept;

  platform::UserFaultFd uffd_;
  std::span<std::byte> memory_;  // the registered, whole-page range
  std::size_t data_size_;
  BlockLayout layout_;
  CoveredHeader header_;
  Settings settings_;
  std::uint64_t unit_bytes_;  // max(2 MiB, block size)
  std::uint64_t units_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> state_;
  std::atomic<std::uint64_t> cursor_{0};  // the next unit in order
  std::atomic<std::uint64_t> units_in_{0};
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> damaged_bytes_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> copied_{false};  // a unit was copied, not moved: collapse at the end

  DataFile file_{};
  const BlockIndex* index_ = nullptr;
  std::vector<std::unique_ptr<Staging>> stagings_;
  std::vector<platform::Thread> threads_;

  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::condition_variable all_in_;  // every unit in, or the load stopped
  std::mutex join_mutex_;           // one wait() joins the threads
  bool registered_ = true;
  std::atomic<bool> done_{false};
  std::map<std::uint64_t, ChainingValue> damaged_;  // block → the value its bytes gave
  std::exception_ptr failure_;
};

}  // namespace datatier::detail
