// A move-only owner of a file descriptor.
#pragma once

#include <utility>

namespace datatier::platform {

// Owns one open file descriptor and closes it when destroyed. A moved-from
// UniqueFd is empty (get() == -1).
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives up the descriptor without closing it; the object is empty after.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the descriptor now. close(2) errors are ignored: the descriptor is
  // released either way, and durability is established by explicit syncs.
  void reset() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace datatier::platform
