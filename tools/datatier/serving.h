// `datatier bench`'s flush_serving phase: writer threads write a
// FileBackedMemory at full speed, each write declared with mark_dirty(),
// while a background save of the pool runs.
#pragma once

#include <cstdint>

#include "datatier/file_backed_memory.h"

namespace datatier::cli {

struct ServingRun {
  double seconds = 0;            // from begin_flush() until the save ended
  double begin_us = 0;           // begin_flush() itself, until it returned
  double writes_per_s = 0;       // the writers' writes per second during the save
  double writes_per_s_idle = 0;  // the same without a save, just before it
  double mark_p99_us = 0;        // mark_dirty()'s latency during the save
  double mark_p999_us = 0;
  std::uint64_t extra_bytes_peak = 0;  // the most held at once for copies
};

// Runs `writers` threads (at least 1) writing random values of 4 KiB to
// 64 KiB at random places of `pool` (each in a slice of its own), first for `idle_seconds` without
// a save, then during pool.begin_flush() until the save has ended. `stop` is polled between writes
// and between phases (Ctrl-C): it throws.
ServingRun measure_flush_serving(FileBackedMemory& pool, unsigned writers, double idle_seconds,
                                 void (*stop)());

}  // namespace datatier::cli
