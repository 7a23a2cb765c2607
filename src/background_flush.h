// The parts of a background save (datatier/background_flush.h): one save at
// a time, the copy-on-write cut of the pool's blocks, and the state the
// handle shares with the saving thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "block_index.h"
#include "datatier/background_flush.h"
#include "platform/mapping.h"

namespace datatier::detail {

// Lets one save run at a time, whichever threads it starts and ends on (a
// background save is begun on the caller's thread and ends on its own).
class SaveGate {
 public:
  // enter() for the length of a scope.
  class Entry {
   public:
    explicit Entry(SaveGate& gate) : gate_(gate) { gate_.enter(); }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    ~Entry() { gate_.leave(); }

   private:
    SaveGate& gate_;
  };

  // Waits until no save runs, then counts one as running.
  void enter();
  // Ends the running save; the next enter() may go on.
  void leave() noexcept;

 private:
  std::mutex mutex_;
  std::condition_variable left_;
  bool busy_ = false;
};

// The cut of a background save: the blocks it has still to take, and the
// copies of those that writers were about to change.
//
// begin() marks the blocks pending. From then on a block is taken once,
// into a slot of at most `slots` block-sized buffers: by a writer, in
// before_write(), before it changes the block; or by the saver's sweep in
// next(). Either way the slot holds the block's bytes as they were at the
// cut, and the saver hashes and writes from the slot, so no writer ever
// waits for a hash or a disk request: only for a block being copied by
// another thread, or, when every slot is full, for the saver to finish with
// one. end() lets writers go as before.
class BlockCut {
 public:
  BlockCut(const BlockLayout& layout, std::span<const std::byte> data) noexcept;
  BlockCut(const BlockCut&) = delete;
  BlockCut& operator=(const BlockCut&) = delete;
  ~BlockCut();

  // Starts a cut of `blocks` (ascending), with `slots` slots of one block
  // each (at least 1). Requires: no cut running. Throws datatier::Error
  // when the slots' memory cannot be reserved (nothing is then started).
  void begin(std::span<const std::uint64_t> blocks, std::size_t slots);

  // Whether a cut is running: writers call before_write() only then.
  bool active() const noexcept { return active_.load(std::memory_order_acquire); }

  // Called by a writer before it changes data bytes [offset, offset +
  // length): copies the blocks among them that the cut has not taken yet.
  // Returns at once when no cut is running. Thread-safe.
  void before_write(std::uint64_t offset, std::uint64_t length) noexcept;

  // A block taken for the saver, its bytes as at the cut.
  struct Taken {
    std::uint64_t block = 0;
    std::span<const std::byte> bytes;  // the block's data bytes
    std::uint32_t slot = 0;
  };

  // The next block for the saver: a writer's copy if there is one, else the
  // next pending block of the sweep, copied now; nullopt once every block
  // of the cut has been handed out, or stop() was called. May wait for a
  // writer to finish a copy. Saver thread only.
  std::optional<Taken> next() { return next_block(true); }

  // As next(), but returns nullopt rather than wait.
  std::optional<Taken> next_ready() { return next_block(false); }

  // Frees the slot of a block the saver is done with.
  void release(const Taken& taken) noexcept;

  // Makes next() return nullopt and writers stop waiting for slots.
  void stop() noexcept;

  // Ends the cut (complete or stopped): writers no longer copy, and once
  // those still inside before_write() have left, the slots' memory is
  // freed. Saver thread only.
  void end() noexcept;

  // The slots of the current or last cut.
  std::size_t slots() const noexcept { return queue_.size(); }

  // The most slots held at once during the current or last cut, in bytes.
  std::uint64_t peak_bytes() const noexcept { return peak_slots_.load() * slot_bytes_; }

 private:
  enum State : std::uint8_t { kTaken = 0, kPending = 1, kCopying = 2 };

  std::optional<Taken> next_block(bool wait);
  // Copies `block` into a free slot and queues it for the saver, unless
  // another thread takes it first. Writers only.
  void copy_for_writer(std::uint64_t block) noexcept;
  // Waits for a free slot (or the cut to stop): the slot, or nullopt.
  std::optional<std::uint32_t> wait_for_slot(std::unique_lock<std::mutex>& lock) noexcept;
  // Copies the data bytes of `block` into `slot`.
  std::span<const std::byte> copy(std::uint64_t block, std::uint32_t slot) noexcept;
  // Waits while another thread copies `block`.
  void wait_while_copying(std::uint64_t block) const noexcept;

  BlockLayout layout_;
  std::span<const std::byte> data_;
  std::uint64_t slot_bytes_;
  // One State per block; allocated by the first begin(), kept until the
  // cut is destroyed, so that a writer never reads freed memory.
  std::unique_ptr<std::atomic<std::uint8_t>[]> states_;

  std::atomic<bool> active_{false};
  // Writers inside before_write() while a cut runs: end() waits for them
  // before it frees the slots.
  std::atomic<unsigned> inside_{0};

  std::mutex mutex_;
  std::condition_variable slot_freed_;  // writers wait here for a slot
  std::condition_variable copied_;      // the saver waits here for a copy
  platform::Mapping slots_;             // the slots' memory
  std::vector<std::uint32_t> free_;     // free slots
  std::vector<Taken> queue_;            // writers' copies, in order (a ring)
  std::size_t queue_head_ = 0;
  std::size_t queued_ = 0;
  bool stopped_ = false;
  std::atomic<std::uint64_t> peak_slots_{0};

  // The saver's side.
  std::vector<std::uint64_t> sweep_;  // the blocks of the cut, ascending
  std::size_t sweep_next_ = 0;
  std::uint64_t handed_out_ = 0;  // blocks next() has returned
};

// The state a BackgroundFlush shares with the thread of its save.
class FlushJob {
 public:
  explicit FlushJob(std::uint64_t total) noexcept { total_.store(total); }

  // The saver's side: progress, then the outcome (null on success).
  void add_done(std::uint64_t bytes) noexcept { done_.fetch_add(bytes); }
  void set_peak(std::uint64_t bytes) noexcept { peak_.store(bytes); }
  void finish(std::exception_ptr error) noexcept;
  bool cancel_requested() const noexcept { return cancel_.load(); }

  // The handle's side.
  void wait() const;
  bool done() const noexcept;
  FlushProgress progress() const noexcept;
  void cancel() noexcept { cancel_.store(true); }
  std::uint64_t peak() const noexcept { return peak_.load(); }

 private:
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> peak_{0};
  std::atomic<bool> cancel_{false};
  mutable std::mutex mutex_;
  mutable std::condition_variable ended_;
  bool ended_flag_ = false;
  std::exception_ptr error_;
};

}  // namespace datatier::detail
