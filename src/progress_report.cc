// ProgressReport: one report at a time, about a hundred per call.
#include "progress_report.h"

#include <system_error>

#include "datatier/error.h"

namespace datatier::detail {

bool ProgressReport::add(std::uint64_t bytes) {
  const std::uint64_t done = done_ += bytes;
  if (callback_ && !cancelled() && done - reported_.load() >= total_.load() / 100) report(done);
  return !cancelled();
}

void ProgressReport::report(std::uint64_t done) {
  const std::lock_guard lock(reporting_);
  // Another thread may have reported a later count meanwhile.
  if (done <= reported_.load() || cancelled()) return;
  reported_.store(done);
  if (!callback_(done, total_.load())) cancelled_.store(true);
}

void ProgressReport::finish() {
  if (!callback_ || cancelled()) return;
  const std::lock_guard lock(reporting_);
  // The work is done: a request to cancel now comes too late to matter.
  static_cast<void>(callback_(total_.load(), total_.load()));
}

void ProgressReport::throw_if_cancelled(const std::filesystem::path& path) const {
  if (!cancelled()) return;
  throw Error(std::make_error_code(std::errc::operation_canceled), path,
              "cancelled by the progress callback");
}

}  // namespace datatier::detail
