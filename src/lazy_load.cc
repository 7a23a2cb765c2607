// The background load of a lazily opened pool. The pool's memory is cut into
// units of max(2 MiB, block size), aligned in data terms so that a unit is
// whole huge pages; blocks (aligned in the hashed stream, 4096 bytes of
// header before the data) straddle units, so a unit is read with the block
// parts around it, every block touching it is checked, and only then are
// its pages moved into place (UFFDIO_MOVE: no copy, huge pages whole) or
// copied (UFFDIO_COPY, collapsed into huge pages at the end).
#include "lazy_load.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "datatier/error.h"

namespace datatier::detail {
namespace {

constexpr std::uint64_t kHugePage = std::uint64_t{2} << 20;
// Threads reading in order, each with one request in flight, besides the
// thread serving faults (which reads the units touched first). More
// requests in flight make a touched unit wait behind them.
constexpr unsigned kReaders = 2;
// How often the fault thread looks up from the descriptor to see whether the
// load has ended or been stopped.
constexpr int kPollMs = 5;

std::uint64_t round_up(std::uint64_t n, std::uint64_t unit) {
  return (n + unit - 1) / unit * unit;
}

// Runs `call` where an error can change nothing more: the load goes on (or
// ends), and what failed is recorded elsewhere or shows in what follows.
template <typename Call>
void ignoring_errors(Call call) noexcept {
  try {
    call();
  } catch (...) {
  }
}

}  // namespace

// Memory to read a unit into: the bytes of the unit's data start at base +
// kHeaderSize, a huge-page boundary, so that its pages move whole; the
// blocks' parts before and after it lie around it.
struct LazyLoad::Staging {
  platform::Mapping mapping;
  std::byte* base = nullptr;

  Staging(std::uint64_t unit_bytes, std::uint64_t block_bytes, const Settings& settings)
      : mapping(platform::Mapping::anonymous(
            static_cast<std::size_t>(kHugePage + kHeaderSize + unit_bytes + block_bytes),
            PageSize::transparent)) {
    mapping.set_numa_policy(settings.numa, settings.numa_node);
    const auto start = reinterpret_cast<std::uintptr_t>(mapping.bytes().data());
    base = mapping.bytes().data() + (round_up(start + kHeaderSize, kHugePage) - start) -
           kHeaderSize;
  }

  // Faults in the pages the next unit will be read into, ahead of the read:
  // fresh pages can cost more than the read itself (zeroing, and on some
  // virtual machines a first touch the host traps), and a touched unit
  // should not wait for that.
  void ready(std::uint64_t unit_bytes) const noexcept {
    const auto offset = static_cast<std::size_t>(base + kHeaderSize - mapping.bytes().data());
    ignoring_errors([&] {
      mapping.populate(offset, static_cast<std::size_t>(unit_bytes),
                       platform::Mapping::Use::writing);
    });
  }
};

LazyLoad::LazyLoad(platform::UserFaultFd uffd, std::span<std::byte> memory, std::size_t page_bytes,
                   const BlockLayout& layout, const CoveredHeader& header, Settings settings)
    : uffd_(std::move(uffd)),
      memory_(memory.data(), static_cast<std::size_t>(round_up(memory.size(), page_bytes))),
      data_size_(memory.size()),
      layout_(layout),
      header_(header),
      settings_(std::move(settings)),
      unit_bytes_(std::max(kHugePage, layout.block_bytes())),
      units_((memory_.size() + unit_bytes_ - 1) / unit_bytes_),
      state_(std::make_unique<std::atomic<std::uint8_t>[]>(static_cast<std::size_t>(units_))) {
  for (unsigned i = 0; i < kReaders + 1; ++i) {
    stagings_.push_back(std::make_unique<Staging>(unit_bytes_, layout_.block_bytes(), settings_));
  }
  uffd_.register_missing(memory_.data(), memory_.size());
  // A child forked now would not inherit the registration: it would see
  // zeros where the load has not been. It gets nothing there instead (a
  // touch is SIGSEGV), until the load ends.
  try {
    platform::inherit_by_children(memory_, false);
  } catch (...) {
    ignoring_errors([&] { uffd_.unregister(memory_.data(), memory_.size()); });
    throw;
  }
}

LazyLoad::~LazyLoad() {
  {
    const std::lock_guard lock(mutex_);
    stop_.store(true);
    all_in_.notify_all();
  }
  threads_.clear();  // joins: the fault thread ends the registration
  if (registered_) ignoring_errors([&] { uffd_.unregister(memory_.data(), memory_.size()); });
}

bool LazyLoad::claim(std::uint64_t u) noexcept {
  std::uint8_t pending = kPending;
  return state_[u].compare_exchange_strong(pending, kLoading);
}

bool LazyLoad::load_first(const DataFile& file, const BlockIndex& index) {
  file_ = file;
  index_ = &index;
  claim(0);
  // Not through load(): damage to the first block is the caller's to answer.
  load_or_throw(0, *stagings_[0]);
  const bool intact = !damaged_.contains(0);
  if (intact) unit_done(0);
  file_ = {};
  index_ = nullptr;
  return intact;
}

void LazyLoad::load(std::uint64_t u, Staging& staging) noexcept {
  try {
    load_or_throw(u, staging);
  } catch (...) {
    record_failure(std::current_exception());
    // The unit cannot be verified: none of it may be served. Page by page:
    // the pages installed before the failure stay, and stop a poisoning of
    // the whole range at the first of them.
    const std::uint64_t begin = u * unit_bytes_;
    const std::uint64_t end = unit_end(u);
    const std::size_t page = platform::page_size();
    for (std::uint64_t at = begin; at < end; at += page) {
      ignoring_errors([&] { uffd_.poison(memory_.data() + at, page); });
    }
  }
  unit_done(u);
}

void LazyLoad::load_or_throw(std::uint64_t u, Staging& staging) {
  const std::uint64_t block_bytes = layout_.block_bytes();
  const std::uint64_t begin = u * unit_bytes_;  // data bytes [begin, end) of the unit
  const std::uint64_t end = unit_end(u);
  const std::uint64_t content_end = std::min(end, std::uint64_t{data_size_});
  // The blocks touching the unit's data, and their bytes in the file. A
  // file offset f is at staging.base + (f - begin).
  const std::uint64_t first = (begin + kHeaderSize) / block_bytes;
  const std::uint64_t last = (content_end - 1 + kHeaderSize) / block_bytes;
  const std::uint64_t file_begin = first * block_bytes;
  const std::uint64_t file_end = std::min((last + 1) * block_bytes, layout_.length());
  std::byte* const at = staging.base;
  const std::span<std::byte> into(at + (file_begin - begin),
                                  static_cast<std::size_t>(file_end - file_begin));
  read_range(file_, into, file_begin);
  // Bytes of the last page past the data are zeros, as in an eager open.
  const std::uint64_t install_end = end - begin + kHeaderSize;  // staging position
  const std::uint64_t read_end = file_end - begin;
  if (read_end < install_end) {
    std::memset(at + read_end, 0, static_cast<std::size_t>(install_end - read_end));
  }

  const StreamBytes stream{header_, at, begin, layout_.length()};
  std::vector<ByteRange> bad;
  for (std::uint64_t k = first; k <= last; ++k) {
    const ChainingValue value = block_value(stream, block_bytes, k);
    if (value == index_->values()[k]) continue;
    const ByteRange range = layout_.data_range(k);
    bool first_report = false;
    {
      const std::lock_guard lock(mutex_);
      first_report = damaged_.emplace(k, value).second;
    }
    if (k == 0) return;  // the caller (load_first) answers it
    if (first_report) {
      damaged_bytes_.fetch_add(range.length);
      if (settings_.on_damage) ignoring_errors([&] { settings_.on_damage(range); });
    }
    // The part in this unit, in whole pages (the last block may end mid-page).
    const std::uint64_t lo = std::max(range.offset, begin);
    const std::uint64_t hi = std::min(round_up(range.offset + range.length, platform::page_size()), end);
    if (settings_.salvage) {
      std::memset(at + (lo - begin) + kHeaderSize, 0, static_cast<std::size_t>(hi - lo));
    } else {
      bad.push_back({lo, hi - lo});
    }
  }
  install(u, staging, bad);
}

void LazyLoad::install(std::uint64_t u, Staging& staging, const std::vector<ByteRange>& bad) {
  const std::uint64_t begin = u * unit_bytes_;
  const std::uint64_t end = unit_end(u);
  const auto put = [&](std::uint64_t lo, std::uint64_t hi) {
    if (lo == hi) return;
    std::byte* const to = memory_.data() + lo;
    std::byte* const from = staging.base + (lo - begin) + kHeaderSize;
    const auto length = static_cast<std::size_t>(hi - lo);
    std::size_t moved = 0;
    if (uffd_.features().move) moved = uffd_.move(to, from, length);
    if (moved < length) {
      uffd_.copy(to + moved, from + moved, length - moved);
      copied_.store(true, std::memory_order_relaxed);
    }
  };
  std::uint64_t at = begin;
  for (const ByteRange& range : bad) {
    put(at, range.offset);
    uffd_.poison(memory_.data() + range.offset, static_cast<std::size_t>(range.length));
    at = range.offset + range.length;
  }
  put(at, end);
}

void LazyLoad::unit_done(std::uint64_t u) noexcept {
  const std::uint64_t begin = u * unit_bytes_;
  bytes_in_.fetch_add(std::min(begin + unit_bytes_, std::uint64_t{data_size_}) - begin);
  state_[u].store(kIn, std::memory_order_release);
  if (units_in_.fetch_add(1) + 1 == units_) {
    const std::lock_guard lock(mutex_);
    all_in_.notify_all();
  }
}

void LazyLoad::read_in_order(Staging& staging) noexcept {
  while (!stop_.load(std::memory_order_relaxed)) {
    const std::uint64_t u = cursor_.fetch_add(1);
    if (u >= units_) return;
    if (claim(u)) load(u, staging);
  }
}

void LazyLoad::serve_faults(Staging& staging) noexcept {
  const auto start = reinterpret_cast<std::uintptr_t>(memory_.data());
  staging.ready(unit_bytes_);
  while (!stop_.load(std::memory_order_relaxed) && units_in_.load() < units_) {
    std::optional<std::uintptr_t> address;
    try {
      address = uffd_.next_fault(kPollMs);
    } catch (...) {
      // Faults can no longer be read: the readers still put every unit in
      // place, which wakes whoever waits there. Nothing is lost but the
      // order, so the load does not fail for it.
      std::unique_lock lock(mutex_);
      all_in_.wait(lock, [&] { return stop_.load() || units_in_.load() == units_; });
      break;
    }
    if (!address || *address < start || *address - start >= memory_.size()) continue;
    const std::uint64_t u = (*address - start) / unit_bytes_;
    if (claim(u)) {
      load(u, staging);
      staging.ready(unit_bytes_);
    } else if (state_[u].load(std::memory_order_acquire) == kIn) {
      // Put in place after the fault was taken, before it was queued.
      const std::uintptr_t page = *address - *address % platform::page_size();
      ignoring_errors([&] { uffd_.wake(reinterpret_cast<void*>(page), platform::page_size()); });
    }
  }
  finish();
}

void LazyLoad::finish() noexcept {
  ignoring_errors([&] { uffd_.unregister(memory_.data(), memory_.size()); });
  // A child that cannot inherit the pool is safe, only less useful: the
  // load has succeeded whether or not this does.
  ignoring_errors([&] { platform::inherit_by_children(memory_, true); });
  // Copied units came in small pages; an eager open's are huge.
  if (copied_.load() && !stop_.load() && settings_.huge_pages) {
    platform::collapse_to_huge_pages(memory_);
  }
  const std::lock_guard lock(mutex_);
  registered_ = false;
  done_.store(true);
  finished_.notify_all();
}

bool LazyLoad::start(const DataFile& file, const BlockIndex& index) {
  file_ = file;
  index_ = &index;
  // A pool of one unit is in already.
  if (units_in_.load() == units_) {
    finish();
    return true;
  }
  Staging& fault_staging = *stagings_[0];
  auto fault_thread = platform::Thread::start([this, &fault_staging] { serve_faults(fault_staging); });
  if (!fault_thread) {
    read_in_order(fault_staging);
    finish();
    return false;
  }
  threads_.push_back(std::move(*fault_thread));
  for (unsigned i = 1; i <= kReaders; ++i) {
    Staging& staging = *stagings_[i];
    auto reader = platform::Thread::start([this, &staging] { read_in_order(staging); });
    if (reader) threads_.push_back(std::move(*reader));
  }
  // No reader: the units nobody touches are read here.
  if (threads_.size() == 1) read_in_order(*stagings_[1]);
  return threads_.size() == kReaders + 1;
}

void LazyLoad::wait() {
  {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return done_.load(); });
  }
  const std::lock_guard joining(join_mutex_);
  threads_.clear();
  stagings_.clear();  // used by the threads only
}

LoadProgress LazyLoad::progress() const noexcept {
  LoadProgress progress;
  progress.lazy = true;
  progress.total_bytes = data_size_;
  // Damaged bytes are not loaded: never verified, whether zeros or poison.
  progress.damaged_bytes = damaged_bytes_.load();
  const std::uint64_t in = bytes_in_.load();
  progress.loaded_bytes = in - std::min(in, progress.damaged_bytes);
  progress.done = done_.load();
  return progress;
}

std::map<std::uint64_t, ChainingValue> LazyLoad::damaged() const {
  const std::lock_guard lock(mutex_);
  return damaged_;
}

std::exception_ptr LazyLoad::failure() const {
  const std::lock_guard lock(mutex_);
  return failure_;
}

void LazyLoad::record_failure(std::exception_ptr error) noexcept {
  const std::lock_guard lock(mutex_);
  if (!failure_) failure_ = std::move(error);
}

}  // namespace datatier::detail
