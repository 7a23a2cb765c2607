// A move-only handle of a running thread, started through the system call
// table so that tests can refuse it.
#pragma once

#include <pthread.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>

namespace datatier::platform {

// One thread running a function. Joined when destroyed; a moved-from Thread
// owns none.
class Thread {
 public:
  // Starts `fn` on a new thread, or returns nullopt when the system refuses
  // one (too many threads, no memory for a stack): a caller that can do the
  // work itself goes on with fewer threads.
  static std::optional<Thread> start(std::function<void()> fn);

  Thread(Thread&& other) noexcept;
  Thread& operator=(Thread&& other) noexcept;
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  // Joins. An exception `fn` threw and join() did not collect is dropped.
  ~Thread();

  // Waits for the thread to finish and rethrows what `fn` threw, if anything.
  // Requires: the Thread owns a thread (not moved from, not joined).
  void join();

 private:
  struct State {
    std::function<void()> fn;
    std::exception_ptr error;
  };
  Thread(pthread_t handle, std::unique_ptr<State> state) noexcept;
  static void* run(void* state) noexcept;
  // Joins if a thread is owned; returns its exception.
  std::exception_ptr wait() noexcept;

  pthread_t handle_{};
  std::unique_ptr<State> state_;  // null once moved from or joined
};

}  // namespace datatier::platform
