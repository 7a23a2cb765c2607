// `datatier bench`'s open_lazy phase: a lazy FileBackedMemory::open() of a
// file not in the page cache, a reader's latencies while the data arrives in
// the background, and an eager open of the same file as its measure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "datatier/file_options.h"

namespace datatier::cli {

struct LazyOpenRun {
  double seconds = 0;         // open() with FileOptions::lazy, until it returned
  double loaded_seconds = 0;  // from the start of that open() until wait_loaded() returned
  double eager_seconds = 0;   // the eager open() of the same file, also read from the device
  // Reads made while the load ran, each the first of its 2 MiB region (a
  // random page of it), and their latencies.
  std::uint64_t reads = 0;
  double read_p50_us = 0;
  double read_p99_us = 0;
  double read_p999_us = 0;
  double read_max_us = 0;
  // Those of them that waited for the loader (slower than 20 µs): how many,
  // and their latencies.
  std::uint64_t misses = 0;
  double miss_p50_us = 0;
  double miss_p99_us = 0;
  std::size_t huge_bytes = 0;        // placement().huge_bytes once the lazy load ended
  std::size_t eager_huge_bytes = 0;  // the same after the eager open
  bool lazy = false;                 // load_progress().lazy: not an eager fallback
};

// Opens the saved pool at `path` (data size `size`, user version 0) twice,
// each time with the pool file and its block index dropped from the page
// cache first: eagerly with `options`, then with `options` and
// FileOptions::lazy. From the moment the lazy open returns until
// load_progress() says the load is done, one thread reads 8 bytes from a
// random 4 KiB page of each 2 MiB region, the regions in random order, each
// read timed on its own. Each pool is dropped before the next step (untimed). `stop` is
// called between the steps (Ctrl-C): it throws.
// Throws: datatier::Error, as FileBackedMemory::open() and wait_loaded().
LazyOpenRun measure_open_lazy(const std::filesystem::path& path, std::size_t size,
                              const FileOptions& options, void (*stop)());

}  // namespace datatier::cli
