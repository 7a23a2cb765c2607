// Running one function on several threads and joining them all.
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
void run_parallel(unsigned workers, const std::function<void(unsigned worker)>& fn);

}  // namespace datatier::detail
