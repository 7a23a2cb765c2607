// The block index: what lets a file pool save only what changed and name the
// damaged ranges of a file, instead of condemning all of it.
//
// A pool file's checksum is the root of BLAKE3's binary tree over the header
// and the data. The block index of a file keeps the chaining values of that
// tree's aligned subtrees of `block size` bytes of the hashed stream (the
// 4096-byte header, then the data), in a side file beside the pool file:
// `<pool>.index` for the pool file, `<pool>.prev.index` for the spare. Merged
// again, the values give the root; an index whose root is not the checksum in
// its file's header is ignored (docs/format.md, "Block index"). A missing,
// stale, foreign, truncated or damaged index therefore never changes a result:
// at worst a save writes the whole pool, or a failed check names the whole
// file instead of its damaged blocks, and the index is written again by the
// next save. The pool file format is unchanged: a file saved incrementally is
// a pool file like any other, and older readers ignore the index.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>
#include <cstdint>

namespace datatier {

// How FileBackedMemory::flush() finds the blocks that changed since the
// snapshot in the spare file (FileOptions::changes).
enum class Changes {
  // Every block of the pool is hashed again, on all cores, and compared with
  // the spare's index; only blocks that differ are written. Always right:
  // costs a hash of the pool plus a write of what changed.
  compare,
  // Only blocks the caller declared with Datapool::mark_dirty() since the
  // last save (and those that differ between the last two snapshots, which
  // the index knows) are hashed and written. Bytes written without a mark
  // may be missing from the next snapshot; the snapshot itself always
  // verifies, since its checksum is computed from what is saved.
  marked,
};

// Bytes [offset, offset + length) of a pool's data().
struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

// The default block size of the index (FileOptions::block_size): 64 KiB
// keeps the index at 32 bytes per 64 KiB (0.05% of the pool) while a save
// writes and hashes no more than 64 KiB for each changed byte.
inline constexpr std::size_t kDefaultBlockSize = std::size_t{64} << 10;

}  // namespace datatier
