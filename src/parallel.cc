// std::thread-based implementation of run_parallel().
#include "parallel.h"

#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace datatier::detail {

unsigned resolve_threads(unsigned requested) noexcept {
  if (requested != 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

void run_parallel(unsigned workers, const std::function<void(unsigned worker)>& fn) {
  if (workers <= 1) {
    fn(0);
    return;
  }
  std::mutex mutex;
  std::exception_ptr first_error;
  const auto guarded = [&](unsigned worker) {
    try {
      fn(worker);
    } catch (...) {
      const std::lock_guard lock(mutex);
      if (!first_error) first_error = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> threads;
    threads.reserve(workers - 1);
    try {
      for (unsigned w = 1; w < workers; ++w) threads.emplace_back(guarded, w);
    } catch (const std::system_error&) {
      // Could not start another thread: the work is shared through a queue,
      // so the threads already running (and this one) take it all.
    }
    guarded(0);
  }  // joins every thread
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace datatier::detail
