// Counting a call's progress from several threads and passing it on to the
// caller's Progress callback, which may cancel the call.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>

#include "datatier/progress.h"

namespace datatier::detail {

class ProgressReport {
 public:
  // Reports to `callback` (which may be empty: then only counts) out of
  // `total` bytes of work.
  ProgressReport(const Progress& callback, std::uint64_t total) noexcept
      : callback_(callback), total_(total) {}
  ProgressReport(const ProgressReport&) = delete;
  ProgressReport& operator=(const ProgressReport&) = delete;

  // Adds to the total work (once a call learns how much more it has).
  void add_total(std::uint64_t bytes) noexcept { total_ += bytes; }

  // Counts `bytes` more done; reports when a hundredth of the total more is
  // done since the last report. Thread-safe. Returns false once cancelled.
  bool add(std::uint64_t bytes);

  // Whether the callback asked to cancel.
  bool cancelled() const noexcept { return cancelled_.load(); }

  // The last report, done == total, unless cancelled.
  void finish();

  // Throws std::errc::operation_canceled naming `path` if cancelled.
  void throw_if_cancelled(const std::filesystem::path& path) const;

 private:
  void report(std::uint64_t done);

  const Progress& callback_;
  std::atomic<std::uint64_t> total_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<bool> cancelled_{false};
  std::mutex reporting_;  // one report at a time
  std::atomic<std::uint64_t> reported_{0};
};

}  // namespace datatier::detail
