// A lazy open: FileBackedMemory::open() with FileOptions::lazy returns as
// soon as the pool's block index is authenticated, and the pool's bytes
// arrive in the background, each block verified before any of it is seen.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstdint>
#include <functional>

#include "datatier/block_index.h"

namespace datatier {

// Where a lazy open is (FileBackedMemory::load_progress()).
struct LoadProgress {
  // Whether the pool is being, or was, loaded lazily; false after an eager
  // open (or a lazy one that fell back to it), create() and take_over().
  bool lazy = false;
  // Whether every block is in and the background load has ended (always
  // true for a pool not loaded lazily).
  bool done = true;
  // Data bytes verified and visible, and the pool's data size.
  std::uint64_t loaded_bytes = 0;
  std::uint64_t total_bytes = 0;
  // Data bytes found damaged so far: zeroed (FileOptions::salvage) or never
  // served.
  std::uint64_t damaged_bytes = 0;
};

// Called for each damaged data range a lazy load finds (FileOptions::
// on_damage), as it finds it: on a loader thread, before any thread may see
// the range (zeroed with FileOptions::salvage; never served without it).
// Calls may come from several threads at once. Requires: it does not throw
// (an exception it throws anyway is ignored), does not block for long (a
// reader of that range waits for it) and does not call into the pool.
using DamageHandler = std::function<void(const ByteRange&)>;

}  // namespace datatier
