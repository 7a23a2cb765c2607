// BLAKE3 over (header ‖ data) computed on several threads, bit-identical to
// the single-threaded official function.
#pragma once

#include <array>
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

// The chaining value of a node of the tree below the root.
using ChainingValue = std::array<std::uint8_t, 32>;

// Stream bytes for hash_blocks(): [0, 4096) from `header`, and from
// `rest_offset` (a multiple of 4096) on, as many as needed, from `rest`.
struct StreamBytes {
  std::span<const std::byte, kHeaderSize> header;
  const std::byte* rest;
  std::uint64_t rest_offset;
  std::uint64_t length;  // of the whole stream, header included
};

// The stream of a pool held whole in memory: its covered header, then `data`.
StreamBytes whole_stream(std::span<const std::byte, kHeaderSize> header,
                         std::span<const std::byte> data) noexcept;

// The number of blocks of `block_bytes` a stream of `length` bytes has (the
// last may be shorter).
std::uint64_t block_count(std::uint64_t length, std::uint64_t block_bytes) noexcept;

// Sets out[i], for every i in `blocks` (ascending), to the chaining value of
// stream bytes [i * block_bytes, min((i + 1) * block_bytes, length)): a node
// of BLAKE3's tree whenever block_bytes is a power of two of at least 4096
// and the stream has at least two blocks, which this requires; the bytes of
// those blocks must be in `input`. Hashes on options.threads threads; workers
// call options.before_hashing with the data bytes of a group of blocks before
// reading them, in ascending order, and stop when it returns false (then
// this returns false); progress is not reported.
bool hash_blocks(const StreamBytes& input, std::uint64_t block_bytes,
                 std::span<const std::uint64_t> blocks, std::span<ChainingValue> out,
                 const TreeHashOptions& options);

// The chaining value of block `block` alone, as hash_blocks() gives it, on
// the calling thread: its bytes must be in `input`.
ChainingValue block_value(const StreamBytes& input, std::uint64_t block_bytes,
                          std::uint64_t block);

// The hash of a stream of two or more blocks from the chaining values of all
// its blocks, in order: the same as tree_hash() over the stream's bytes.
Checksum merge_blocks(std::span<const ChainingValue> blocks);

}  // namespace datatier::detail
