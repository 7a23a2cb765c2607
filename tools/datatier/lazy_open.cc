// The open_lazy phase of `datatier bench`.
#include "lazy_open.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "datatier/file_backed_memory.h"
#include "histogram.h"
#include "os.h"
#include "splitmix64.h"

namespace datatier::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadPage = 4096;
// The reader touches each region of this size once (a random page of it):
// the loader fills whole regions, so a second read of one would only
// measure memory already there.
constexpr std::size_t kRegion = std::size_t{2} << 20;
// A read slower than this waited for the loader.
constexpr auto kMissed = std::chrono::microseconds(20);

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Drops the pool file and its block index from the page cache: an open()
// then reads both from the device, as after a reboot.
void evict_pool(const std::filesystem::path& path) {
  os::evict_from_page_cache(path);
  const auto index = FileBackedMemory::index_path(path);
  if (std::filesystem::exists(index)) os::evict_from_page_cache(index);
}

// What the reader thread hears from the opening one.
enum class Go : int { wait, read, stop };

}  // namespace

LazyOpenRun measure_open_lazy(const std::filesystem::path& path, std::size_t size,
                              const FileOptions& options, void (*stop)()) {
  LazyOpenRun run;
  evict_pool(path);
  {
    const auto start = Clock::now();
    const auto eager = FileBackedMemory::open(path, size, 0, options);
    run.eager_seconds = seconds_between(start, Clock::now());
    run.eager_huge_bytes = eager.placement().huge_bytes;
  }
  stop();
  evict_pool(path);

  FileOptions lazy = options;
  lazy.lazy = true;
  Histogram latency;  // allocated before the clock starts
  Histogram missed;   // the reads that waited
  std::optional<FileBackedMemory> pool;
  std::span<const std::byte> data;
  std::atomic<Go> go{Go::wait};
  // The sum of the words read: stored, so the reads cannot be optimised away.
  std::atomic<std::uint64_t> sum{0};
  std::exception_ptr error;
  Clock::time_point start;
  Clock::time_point loaded;
  {
    // Started before the open, so that it reads as soon as open() returns
    // rather than after a thread's start-up.
    std::jthread reader([&] {
      go.wait(Go::wait);
      if (go.load() != Go::read) return;
      SplitMix64 random(1);
      const std::size_t regions = (data.size() + kRegion - 1) / kRegion;
      std::vector<bool> touched(regions);
      std::uint64_t words = 0;
      for (std::size_t left = regions;
           left > 0 && go.load(std::memory_order_relaxed) == Go::read &&
           !pool->load_progress().done;
           --left) {
        // A random region not read yet (the next one after a read one).
        std::size_t region = static_cast<std::size_t>(random.next() % regions);
        while (touched[region]) region = (region + 1) % regions;
        touched[region] = true;
        const std::size_t pages =
            (std::min(kRegion, data.size() - region * kRegion) + kReadPage - 1) / kReadPage;
        const std::size_t at =
            region * kRegion + static_cast<std::size_t>(random.next() % pages) * kReadPage;
        std::uint64_t word = 0;
        const auto before = Clock::now();
        std::memcpy(&word, data.data() + at, std::min(sizeof word, data.size() - at));
        const auto after = Clock::now();
        words += word;
        latency.add(after - before);
        ++run.reads;
        if (after - before > kMissed) {
          missed.add(after - before);
          ++run.misses;
        }
      }
      sum.store(words);
    });
    try {
      start = Clock::now();
      pool = FileBackedMemory::open(path, size, 0, lazy);
      run.seconds = seconds_between(start, Clock::now());
      data = pool->data();
      go.store(Go::read);
      go.notify_one();
      pool->wait_loaded();
      loaded = Clock::now();
    } catch (...) {
      error = std::current_exception();
    }
    go.store(Go::stop);
    go.notify_one();
  }
  if (error) std::rethrow_exception(error);
  run.loaded_seconds = seconds_between(start, loaded);
  run.read_p50_us = latency.percentile_us(0.5);
  run.read_p99_us = latency.percentile_us(0.99);
  run.read_p999_us = latency.percentile_us(0.999);
  run.read_max_us = latency.max_us();
  run.miss_p50_us = missed.percentile_us(0.5);
  run.miss_p99_us = missed.percentile_us(0.99);
  run.huge_bytes = pool->placement().huge_bytes;
  run.lazy = pool->load_progress().lazy;
  return run;
}

}  // namespace datatier::cli
