// The flush_serving phase of `datatier bench`.
#include "serving.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "histogram.h"
#include "splitmix64.h"

namespace datatier::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMinWrite = 4096;
constexpr std::size_t kMaxWrite = 65536;

enum class Stage : int { idle, saving, done };

struct Writer {
  std::uint64_t writes[2] = {0, 0};  // idle, saving
  Histogram saving_latency;
};

}  // namespace

ServingRun measure_flush_serving(FileBackedMemory& pool, unsigned writers, double idle_seconds,
                                 void (*stop)()) {
  writers = std::max(1u, writers);
  const std::span<std::byte> data = pool.data();
  std::atomic<Stage> stage{Stage::idle};
  std::vector<std::unique_ptr<Writer>> results;
  for (unsigned w = 0; w < writers; ++w) results.push_back(std::make_unique<Writer>());
  Clock::time_point idle_start;
  Clock::time_point idle_end;
  Clock::time_point begun;
  Clock::time_point save_end;
  BackgroundFlush save;
  std::exception_ptr error;
  {
    std::vector<std::jthread> threads;
    for (unsigned w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        Writer& mine = *results[w];
        SplitMix64 random(w + 1);
        // Each writer its own slice: writers never write the same bytes.
        const std::span<std::byte> slice =
            data.subspan(data.size() * w / writers, data.size() / writers);
        const std::size_t max_write = std::min(kMaxWrite, slice.size());
        const std::size_t min_write = std::min(kMinWrite, max_write);
        for (Stage now = stage.load(); now != Stage::done; now = stage.load()) {
          const std::size_t length = min_write + random.next() % (max_write - min_write + 1);
          const std::size_t at = static_cast<std::size_t>(slice.data() - data.data()) +
                                 random.next() % (slice.size() - length + 1);
          const auto before = Clock::now();
          pool.mark_dirty(at, length);
          const auto after = Clock::now();
          std::memset(data.data() + at, static_cast<int>(random.next()), length);
          const int s = static_cast<int>(now);
          ++mine.writes[s];
          if (now == Stage::saving) mine.saving_latency.add(after - before);
        }
      });
    }
    try {
      idle_start = Clock::now();
      while (Clock::now() - idle_start < std::chrono::duration<double>(idle_seconds)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        stop();
      }
      // The writers count each write in the stage it began in.
      idle_end = Clock::now();
      save = pool.begin_flush();
      begun = Clock::now();
      stage.store(Stage::saving);
      while (!save.done()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      save_end = Clock::now();
      save.wait();
    } catch (...) {
      error = std::current_exception();
    }
    stage.store(Stage::done);
  }
  if (error) std::rethrow_exception(error);
  ServingRun run;
  Histogram latency;
  std::uint64_t idle_writes = 0;
  std::uint64_t saving_writes = 0;
  for (const auto& w : results) {
    idle_writes += w->writes[0];
    saving_writes += w->writes[1];
    latency.merge(w->saving_latency);
  }
  run.seconds = std::chrono::duration<double>(save_end - idle_end).count();
  run.begin_us = std::chrono::duration<double, std::micro>(begun - idle_end).count();
  const double idle = std::chrono::duration<double>(idle_end - idle_start).count();
  run.writes_per_s = run.seconds > 0 ? static_cast<double>(saving_writes) / run.seconds : 0;
  run.writes_per_s_idle = idle > 0 ? static_cast<double>(idle_writes) / idle : 0;
  run.mark_p99_us = latency.percentile_us(0.99);
  run.mark_p999_us = latency.percentile_us(0.999);
  run.extra_bytes_peak = save.peak_copy_bytes();
  return run;
}

}  // namespace datatier::cli
