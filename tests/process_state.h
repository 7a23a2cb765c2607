// What a test can observe of its own process: open descriptors, file
// mappings, threads, and whether every region a pool mapped was unmapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace datatier::testing {

// Entries of a /proc/self directory (fd, task).
inline std::size_t proc_entries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

inline std::size_t open_descriptors() {
  return proc_entries("/proc/self/fd");
}

inline std::size_t thread_count() {
  return proc_entries("/proc/self/task");
}

// Lines of /proc/self/maps naming a file under `dir`.
inline std::size_t file_mappings(const std::filesystem::path& dir) {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(dir.string()) != std::string::npos) ++n;
  }
  return n;
}

// Memory regions as (start, length), as mmap returned them.
using Regions = std::vector<std::pair<std::uintptr_t, std::size_t>>;

// How many regions of `mapped` no call in `unmapped` released. Judged by the
// calls themselves, not by /proc/self/maps, where an address the process
// reuses after an unmap (the allocator, a thread stack) would look like a leak.
inline std::size_t never_unmapped(const Regions& mapped, const Regions& unmapped) {
  std::size_t n = 0;
  for (const auto& region : mapped) {
    bool released = false;
    for (const auto& other : unmapped) released = released || other == region;
    if (!released) ++n;
  }
  return n;
}

}  // namespace datatier::testing
