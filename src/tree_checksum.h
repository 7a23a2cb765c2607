// BLAKE3 over (header ‖ data) computed on several threads, bit-identical to
// the single-threaded official function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
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

// The same hash for an input too large to hold at once, given window by
// window: stream bytes [0, 4096) are `header`, the rest come through add().
// Its leaf tasks never straddle two windows, so each window is hashed on all
// threads as soon as it is given, and finish() only combines.
class WindowedTreeHash {
 public:
  // A hash of `length` stream bytes (the header's 4096 included) to be given
  // in windows of `window_bytes` (a power of two, at least 1 MiB).
  WindowedTreeHash(std::span<const std::byte, kHeaderSize> header, std::uint64_t length,
                   std::uint64_t window_bytes, unsigned threads);
  ~WindowedTreeHash();
  WindowedTreeHash(const WindowedTreeHash&) = delete;
  WindowedTreeHash& operator=(const WindowedTreeHash&) = delete;

  // Hashes the window holding stream bytes [offset, offset + bytes.size()):
  // `offset` a multiple of window_bytes, `bytes` the whole window (the last
  // may be shorter). In a window at offset 0, bytes [0, 4096) are ignored:
  // the header given to the constructor stands in for them.
  void add(std::uint64_t offset, std::span<const std::byte> bytes);

  // The hash, once every window was added.
  Checksum finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace datatier::detail
