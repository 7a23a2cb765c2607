// BLAKE3 over (header ‖ data) computed on several threads, bit-identical to
// the single-threaded official function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "datatier/header.h"

namespace datatier::detail {

struct TreeHashOptions {
  // Threads to hash on; 0 = all cores.
  unsigned threads = 0;
  // Called by a worker before it reads data bytes [begin, end); workers take
  // these ranges in order of `begin`. Lets a producer stream the data in (a
  // file read in flight). Returns false to abandon the hash, which then
  // returns an all-zero result. May be empty.
  std::function<bool(std::uint64_t begin, std::uint64_t end)> before_hashing;
  // Called by a worker after it has hashed data bytes [begin, end) and will
  // not read them again. May be empty.
  std::function<void(std::uint64_t begin, std::uint64_t end)> after_hashing;
  // The largest leaf task in bytes (a power of two, at least 1 MiB), 0 for
  // no limit: bounds how far ahead of the hash a streamed input must be.
  std::uint64_t max_task_bytes = 0;
  // Called on the calling thread now and then with data bytes hashed so far.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

// BLAKE3 of `header` followed by `data`. BLAKE3 hashes 1 KiB chunks as the
// leaves of a binary tree whose left subtrees are always complete powers of
// two; this splits the tree into complete subtrees aligned to a power-of-two
// leaf size, hashes those in parallel with the official implementation's SIMD
// compression (blake3_hash_many / blake3_compress_in_place), and combines
// their chaining values exactly as the official hasher's tree does. The
// header is whole chunks (4096 bytes), so no chunk straddles the two spans.
Checksum tree_hash(std::span<const std::byte, kHeaderSize> header, std::span<const std::byte> data,
                   const TreeHashOptions& options);

}  // namespace datatier::detail
