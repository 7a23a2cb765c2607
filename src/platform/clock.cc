// clock_gettime-based implementation of read_clocks().
#include "platform/clock.h"

#include <ctime>

namespace datatier::platform {
namespace {

timespec now(clockid_t clock) noexcept {
  timespec ts{};
  clock_gettime(clock, &ts);  // cannot fail for these clock ids
  return ts;
}

std::uint64_t nanoseconds(const timespec& ts) noexcept {
  // Wrapping arithmetic, as the format defines it.
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

ClockReadings read_clocks() noexcept {
  ClockReadings r{};
  r.monotonic_s = static_cast<std::uint32_t>(now(CLOCK_MONOTONIC_COARSE).tv_sec);
  r.unix_s = static_cast<std::uint32_t>(now(CLOCK_REALTIME_COARSE).tv_sec);
  r.monotonic_ns = nanoseconds(now(CLOCK_MONOTONIC));
  r.unix_ns = nanoseconds(now(CLOCK_REALTIME));
  return r;
}

}  // namespace datatier::platform
