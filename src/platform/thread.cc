// Threads started with pthread_create(3) through the system call table.
#include "platform/thread.h"

#include <utility>

#include "platform/syscalls.h"

namespace datatier::platform {

std::optional<Thread> Thread::start(std::function<void()> fn) {
  auto state = std::make_unique<State>(State{std::move(fn), nullptr});
  pthread_t handle{};
  // pthread_create reports EAGAIN (or EPERM, EINVAL for attributes we do not
  // pass) by return value; each means the same here: no thread.
  if (syscalls().pthread_create(&handle, nullptr, &Thread::run, state.get()) != 0) {
    return std::nullopt;
  }
  return Thread(handle, std::move(state));
}

Thread::Thread(pthread_t handle, std::unique_ptr<State> state) noexcept
    : handle_(handle), state_(std::move(state)) {}

Thread::Thread(Thread&& other) noexcept
    : handle_(other.handle_), state_(std::move(other.state_)) {}

Thread& Thread::operator=(Thread&& other) noexcept {
  if (this != &other) {
    wait();
    handle_ = other.handle_;
    state_ = std::move(other.state_);
  }
  return *this;
}

Thread::~Thread() {
  wait();
}

void Thread::join() {
  if (std::exception_ptr error = wait()) std::rethrow_exception(error);
}

void* Thread::run(void* state) noexcept {
  auto& s = *static_cast<State*>(state);
  // An exception must not leave the thread's start routine (the process
  // would terminate): it is kept for join().
  try {
    s.fn();
  } catch (...) {
    s.error = std::current_exception();
  }
  return nullptr;
}

std::exception_ptr Thread::wait() noexcept {
  if (!state_) return nullptr;
  // Fails only for a thread not joinable, which an owned one always is.
  ::pthread_join(handle_, nullptr);
  return std::exchange(state_, nullptr)->error;
}

}  // namespace datatier::platform
