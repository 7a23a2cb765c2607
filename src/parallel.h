// Running work on several threads and joining them all.
#pragma once

#include <functional>

namespace datatier::detail {

// The number of threads to use when the caller asks for 0 ("all cores").
unsigned resolve_threads(unsigned requested) noexcept;

// Calls fn(0), ..., fn(workers - 1) concurrently, fn(0) on the calling thread,
// and returns once every call has returned: no thread outlives the call. If
// calls throw, the first exception is rethrown after all have finished.
// Requires: the workers share their work through a queue, so that any one of
// them can finish it all; where the system refuses a thread, fewer run.
// Returns the number of calls made: `workers`, or fewer where the system
// refused a thread (at least 1).
unsigned run_parallel(unsigned workers, const std::function<void(unsigned worker)>& fn);

// Runs two different jobs at once: `background` on a new thread, `foreground`
// on the calling thread, and returns once both have returned. Where the system
// refuses the thread, both run on the calling thread, `background` first: so
// `foreground` may wait for what `background` produces, never the reverse.
// If either throws, the first exception is rethrown after both have finished.
void run_side_by_side(const std::function<void()>& background,
                      const std::function<void()>& foreground);

}  // namespace datatier::detail
