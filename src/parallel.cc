// run_parallel() and run_side_by_side() on the platform layer's threads.
#include "parallel.h"

#include <exception>
#include <optional>
#include <thread>
#include <vector>

#include "platform/thread.h"

namespace datatier::detail {
namespace {

// Runs `job`, keeping its exception in `first` unless one is there already.
template <typename Job>
void keep_first_error(std::exception_ptr& first, Job&& job) noexcept {
  try {
    job();
  } catch (...) {
    if (!first) first = std::current_exception();
  }
}

}  // namespace

unsigned resolve_threads(unsigned requested) noexcept {
  if (requested != 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

unsigned run_parallel(unsigned workers, const std::function<void(unsigned worker)>& fn) {
  std::vector<platform::Thread> threads;
  threads.reserve(workers > 1 ? workers - 1 : 0);
  for (unsigned w = 1; w < workers; ++w) {
    auto thread = platform::Thread::start([&fn, w] { fn(w); });
    // Refused: the work is shared through a queue, so the threads already
    // running (and this one) take it all.
    if (!thread) break;
    threads.push_back(std::move(*thread));
  }
  std::exception_ptr first;
  keep_first_error(first, [&] { fn(0); });
  for (auto& thread : threads) keep_first_error(first, [&] { thread.join(); });
  if (first) std::rethrow_exception(first);
  return static_cast<unsigned>(threads.size()) + 1;
}

void run_side_by_side(const std::function<void()>& background,
                      const std::function<void()>& foreground) {
  std::exception_ptr first;
  auto thread = platform::Thread::start([&background] { background(); });
  if (!thread) keep_first_error(first, background);
  keep_first_error(first, foreground);
  if (thread) keep_first_error(first, [&] { thread->join(); });
  if (first) std::rethrow_exception(first);
}

}  // namespace datatier::detail
