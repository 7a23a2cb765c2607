// A background save's cut: blocks copied before writers change them, the
// saver fed from the copies, and the handle's shared state.
#include "background_flush.h"

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>

#include "datatier/error.h"
#include "datatier/header.h"
#include "no_throw.h"

namespace datatier::detail {

void SaveGate::enter() {
  std::unique_lock lock(mutex_);
  left_.wait(lock, [&] { return !busy_; });
  busy_ = true;
}

void SaveGate::leave() noexcept {
  {
    const std::lock_guard lock(mutex_);
    busy_ = false;
  }
  left_.notify_one();
}

BlockCut::BlockCut(const BlockLayout& layout, std::span<const std::byte> data) noexcept
    : layout_(layout), data_(data), slot_bytes_(layout.block_bytes()) {}

BlockCut::~BlockCut() = default;

void BlockCut::begin(std::span<const std::uint64_t> blocks, std::size_t slots) {
  if (!states_) {
    states_ =
        std::make_unique<std::atomic<std::uint8_t>[]>(static_cast<std::size_t>(layout_.count()));
  }
  slots_ = platform::Mapping::anonymous(slots * slot_bytes_, PageSize::small);
  free_.resize(slots);
  // Handed out from the back: the lowest slots first, whose pages the
  // earliest copies have faulted in.
  for (std::size_t i = 0; i < slots; ++i) free_[i] = static_cast<std::uint32_t>(slots - 1 - i);
  queue_.assign(slots, Taken{});
  queue_head_ = 0;
  queued_ = 0;
  stopped_ = false;
  peak_slots_.store(0);
  sweep_.assign(blocks.begin(), blocks.end());
  sweep_next_ = 0;
  handed_out_ = 0;
  for (const std::uint64_t block : blocks)
    states_[block].store(kPending, std::memory_order_relaxed);
  // Publishes the states: a writer that sees the cut active sees them too.
  active_.store(true, std::memory_order_seq_cst);
}

void BlockCut::before_write(std::uint64_t offset, std::uint64_t length) noexcept {
  // Counted in before looking again: end() either sees this writer inside
  // and waits for it, or has already cleared active_, which the second
  // look then sees (both sequentially consistent).
  inside_.fetch_add(1, std::memory_order_seq_cst);
  if (active_.load(std::memory_order_seq_cst)) {
    const BlockLayout::Span blocks = layout_.blocks_of(offset, length);
    for (std::uint64_t block = blocks.first; block < blocks.end; ++block) {
      std::uint8_t state = states_[block].load(std::memory_order_acquire);
      if (state == kPending) copy_for_writer(block);
      wait_while_copying(block);
    }
  }
  inside_.fetch_sub(1, std::memory_order_seq_cst);
}

void BlockCut::wait_while_copying(std::uint64_t block) const noexcept {
  // A copy of one block takes microseconds: spin briefly, then yield.
  for (unsigned spins = 0; states_[block].load(std::memory_order_acquire) == kCopying; ++spins) {
    if (spins > 64) std::this_thread::yield();
  }
}

std::optional<std::uint32_t> BlockCut::wait_for_slot(std::unique_lock<std::mutex>& lock) noexcept {
  slot_freed_.wait(lock, [&] { return stopped_ || !free_.empty(); });
  if (stopped_) return std::nullopt;
  const std::uint32_t slot = free_.back();
  free_.pop_back();
  const std::uint64_t held = queue_.size() - free_.size();
  if (held > peak_slots_.load(std::memory_order_relaxed)) {
    peak_slots_.store(held, std::memory_order_relaxed);
  }
  return slot;
}

std::span<const std::byte> BlockCut::copy(std::uint64_t block, std::uint32_t slot) noexcept {
  const ByteRange range = layout_.data_range(block);
  std::byte* to = slots_.bytes().data() + slot * slot_bytes_;
  std::memcpy(to, data_.data() + range.offset, range.length);
  return {to, static_cast<std::size_t>(range.length)};
}

void BlockCut::copy_for_writer(std::uint64_t block) noexcept {
  std::optional<std::uint32_t> slot;
  {
    // The slot is had before the block is claimed, so that no thread waits
    // on a claimed block for longer than one copy.
    std::unique_lock lock(mutex_);
    slot = wait_for_slot(lock);
  }
  if (!slot) return;  // the cut stopped: nothing more is saved
  std::uint8_t expected = kPending;
  if (!states_[block].compare_exchange_strong(expected, kCopying, std::memory_order_acq_rel)) {
    // Another thread took it meanwhile.
    release(Taken{block, {}, *slot});
    return;
  }
  const std::span<const std::byte> bytes = copy(block, *slot);
  states_[block].store(kTaken, std::memory_order_release);
  {
    const std::lock_guard lock(mutex_);
    queue_[(queue_head_ + queued_) % queue_.size()] = Taken{block, bytes, *slot};
    ++queued_;
  }
  copied_.notify_one();
}

std::optional<BlockCut::Taken> BlockCut::next_block(bool wait) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopped_ || handed_out_ == sweep_.size()) return std::nullopt;
    if (queued_ > 0) {
      const Taken taken = queue_[queue_head_];
      queue_head_ = (queue_head_ + 1) % queue_.size();
      --queued_;
      ++handed_out_;
      return taken;
    }
    // Sweep on to the next block still pending; those writers claimed will
    // come through the queue.
    while (sweep_next_ < sweep_.size() &&
           states_[sweep_[sweep_next_]].load(std::memory_order_acquire) != kPending) {
      ++sweep_next_;
    }
    if (sweep_next_ == sweep_.size()) {
      // Every block is claimed; the rest are writers' copies in progress.
      if (!wait) return std::nullopt;
      copied_.wait(lock, [&] { return stopped_ || queued_ > 0; });
      continue;
    }
    if (free_.empty()) {
      // Every slot holds a copy: some are queued or about to be.
      if (!wait) return std::nullopt;
      copied_.wait(lock, [&] { return stopped_ || queued_ > 0 || !free_.empty(); });
      continue;
    }
    const std::optional<std::uint32_t> slot = wait_for_slot(lock);
    if (!slot) return std::nullopt;
    const std::uint64_t block = sweep_[sweep_next_];
    std::uint8_t expected = kPending;
    if (!states_[block].compare_exchange_strong(expected, kCopying, std::memory_order_acq_rel)) {
      free_.push_back(*slot);
      continue;
    }
    // Copied without the lock: writers queue their copies meanwhile.
    lock.unlock();
    const std::span<const std::byte> bytes = copy(block, *slot);
    states_[block].store(kTaken, std::memory_order_release);
    lock.lock();
    ++sweep_next_;
    ++handed_out_;
    return Taken{block, bytes, *slot};
  }
}

void BlockCut::release(const Taken& taken) noexcept {
  {
    const std::lock_guard lock(mutex_);
    free_.push_back(taken.slot);
  }
  slot_freed_.notify_one();
  copied_.notify_one();
}

void BlockCut::stop() noexcept {
  {
    const std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  slot_freed_.notify_all();
  copied_.notify_all();
}

void BlockCut::end() noexcept {
  stop();
  active_.store(false, std::memory_order_seq_cst);
  while (inside_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  // No writer looks at the states now; a stopped cut leaves some pending.
  for (const std::uint64_t block : sweep_) states_[block].store(kTaken, std::memory_order_relaxed);
  slots_ = platform::Mapping();
  sweep_ = {};
}

void FlushJob::finish(std::exception_ptr error) noexcept {
  {
    const std::lock_guard lock(mutex_);
    error_ = std::move(error);
    ended_flag_ = true;
  }
  ended_.notify_all();
}

void FlushJob::wait() const {
  std::unique_lock lock(mutex_);
  ended_.wait(lock, [&] { return ended_flag_; });
  if (error_) std::rethrow_exception(error_);
}

bool FlushJob::done() const noexcept {
  const std::lock_guard lock(mutex_);
  return ended_flag_;
}

FlushProgress FlushJob::progress() const noexcept {
  return {std::min(done_.load(), total_.load()), total_.load()};
}

}  // namespace datatier::detail

namespace datatier {

BackgroundFlush::BackgroundFlush() noexcept = default;
BackgroundFlush::BackgroundFlush(std::shared_ptr<detail::FlushJob> job) noexcept
    : job_(std::move(job)) {}
BackgroundFlush::BackgroundFlush(BackgroundFlush&& other) noexcept = default;
BackgroundFlush& BackgroundFlush::operator=(BackgroundFlush&& other) noexcept = default;
BackgroundFlush::~BackgroundFlush() = default;

const detail::FlushJob& BackgroundFlush::job() const {
  if (!job_) {
    throw Error(std::make_error_code(std::errc::invalid_argument), {},
                "this BackgroundFlush refers to no save (moved from)");
  }
  return *job_;
}

void BackgroundFlush::wait() const {
  job().wait();
}

void BackgroundFlush::wait(std::error_code& ec) const noexcept {
  detail::capture(ec, [&] { wait(); });
}

bool BackgroundFlush::done() const noexcept {
  return !job_ || job_->done();
}

FlushProgress BackgroundFlush::progress() const noexcept {
  return job_ ? job_->progress() : FlushProgress{};
}

void BackgroundFlush::cancel() noexcept {
  if (job_) job_->cancel();
}

std::uint64_t BackgroundFlush::peak_copy_bytes() const noexcept {
  return job_ ? job_->peak() : 0;
}

}  // namespace datatier
