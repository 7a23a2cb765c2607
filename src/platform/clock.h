// The four clocks a pool header records when it is written.
#pragma once

#include <cstdint>

namespace datatier::platform {

struct ClockReadings {
  std::uint32_t monotonic_s;   // CLOCK_MONOTONIC_COARSE, whole seconds (truncated to 32 bits)
  std::uint32_t unix_s;        // CLOCK_REALTIME_COARSE, whole seconds (truncated to 32 bits)
  std::uint64_t monotonic_ns;  // CLOCK_MONOTONIC in nanoseconds (wrapping)
  std::uint64_t unix_ns;       // CLOCK_REALTIME in nanoseconds (wrapping)
};

// Reads the clocks one after another, as the reference implementation does.
ClockReadings read_clocks() noexcept;

}  // namespace datatier::platform
