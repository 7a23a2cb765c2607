// The block index of a pool file (include/datatier/block_index.h): the
// chaining values of its blocks, their side file, and the marks of blocks
// written since the last save.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "datatier/block_index.h"
#include "datatier/header.h"
#include "platform/directory.h"
#include "tree_checksum.h"

namespace datatier::detail {

// The largest block size: a block fits in a window of verify_file().
inline constexpr std::uint64_t kMaxBlockBytes = std::uint64_t{16} << 20;

// The blocks of a pool's hashed stream: the 4096-byte header, then the data.
class BlockLayout {
 public:
  // Requires: block_bytes a power of two of at least 4096.
  BlockLayout(std::size_t data_size, std::uint64_t block_bytes) noexcept
      : length_(kHeaderSize + std::uint64_t{data_size}), block_bytes_(block_bytes) {}

  // The block size FileOptions::block_size asks for (0: the default), or
  // std::errc::invalid_argument naming `path`: a power of two from 4 KiB to
  // kMaxBlockBytes.
  static std::uint64_t checked_block_bytes(std::size_t requested,
                                           const std::filesystem::path& path);

  std::uint64_t length() const noexcept { return length_; }
  std::uint64_t block_bytes() const noexcept { return block_bytes_; }
  std::uint64_t count() const noexcept { return block_count(length_, block_bytes_); }
  // All blocks, in order.
  std::vector<std::uint64_t> all_blocks() const;

  // The blocks [first, end) holding data bytes [offset, offset + length);
  // bytes past the end of the data are ignored (first == end: none).
  struct Span {
    std::uint64_t first = 0;
    std::uint64_t end = 0;
  };
  Span blocks_of(std::uint64_t offset, std::uint64_t length) const noexcept;

  // The data bytes of `block`, in data() terms.
  ByteRange data_range(std::uint64_t block) const noexcept {
    const std::uint64_t begin = block == 0 ? kHeaderSize : block * block_bytes_;
    const std::uint64_t end = std::min(length_, (block + 1) * block_bytes_);
    return {begin - kHeaderSize, end - begin};
  }

  // Whether a stream this long has an index: two blocks or more, so that
  // every block is a node below the root.
  bool indexed() const noexcept { return count() >= 2; }

  // The data bytes of `blocks` (ascending), adjacent ones joined, in data()
  // terms: block 0's range starts at 0, after the header.
  std::vector<ByteRange> data_ranges(std::span<const std::uint64_t> blocks) const;

  friend bool operator==(const BlockLayout&, const BlockLayout&) = default;

 private:
  std::uint64_t length_;
  std::uint64_t block_bytes_;
};

// The chaining values of every block of one snapshot.
class BlockIndex {
 public:
  explicit BlockIndex(const BlockLayout& layout)
      : layout_(layout), values_(static_cast<std::size_t>(layout.count())) {}

  const BlockLayout& layout() const noexcept { return layout_; }
  std::span<ChainingValue> values() noexcept { return values_; }
  std::span<const ChainingValue> values() const noexcept { return values_; }

  // The pool checksum these values merge to.
  Checksum root() const { return merge_blocks(values_); }

  // The blocks whose values differ from `other`'s (same layout), ascending.
  std::vector<std::uint64_t> differing(const BlockIndex& other) const;

  // Reads the index file `name` of `dir` (never through a symbolic link).
  // Returns it only if it describes a stream of `length` bytes (in blocks of
  // the size it records) and its values merge to `root`, the checksum in the
  // header of the file it belongs to; nullopt for a missing, stale, foreign,
  // truncated or damaged index, or a name that is no regular file: none of
  // these changes a result. Throws datatier::Error for a failed system call.
  static std::optional<BlockIndex> read(const platform::Directory& dir, const std::string& name,
                                        std::uint64_t length, const Checksum& root);
  // The same for the index file at `path`.
  static std::optional<BlockIndex> read(const std::filesystem::path& path, std::uint64_t length,
                                        const Checksum& root);

  // Writes the index as the file `name` of `dir`, vouching for `root` (the
  // checksum of the snapshot it describes, which must be durable in its
  // file already): whatever has the name loses it, a new file (never a
  // symbolic link's target) of mode `mode` is written and synced. The name
  // is durable with the caller's next directory sync. Throws datatier::Error.
  void write(const platform::Directory& dir, const std::string& name, const Checksum& root,
             mode_t mode) const;

 private:
  static std::optional<BlockIndex> read(const platform::File& file, std::uint64_t length,
                                        const Checksum& root);

  BlockLayout layout_;
  std::vector<ChainingValue> values_;
};

// The checksum of the stream `header` ‖ `data`; with an indexed `layout`,
// also the values of all its blocks, in *index (reusing its memory when it
// holds an index of that layout). Returns all zeros when
// options.before_hashing abandons the hash.
Checksum hash_stream(std::span<const std::byte, kHeaderSize> header,
                     std::span<const std::byte> data, const BlockLayout& layout,
                     std::optional<BlockIndex>* index, const TreeHashOptions& options);

// The bytes `ranges` cover together.
std::uint64_t byte_count(std::span<const ByteRange> ranges) noexcept;

// What find_index() found beside a file.
struct FoundIndex {
  std::optional<BlockIndex> index;  // valid for the file's snapshot, in `layout`
  bool file_exists = false;         // an index file (valid or not) has the name
};

// The index beside the file `name` of `dir`, whose header records
// `checksum`, when it is valid and in `layout`.
FoundIndex find_index(const platform::Directory& dir, const std::string& name,
                      const Checksum& checksum, const BlockLayout& layout);

// The name of the index file of the pool or spare file `name`.
std::string index_name(const std::string& name);

// Blocks marked as written since they were last taken: one bit per block,
// set with atomic operations, no lock, no system call.
class DirtyBlocks {
 public:
  explicit DirtyBlocks(const BlockLayout& layout);

  // Marks the blocks holding data bytes [offset, offset + length); bytes
  // past the end of the data are ignored. Thread-safe.
  void mark(std::uint64_t offset, std::uint64_t length) noexcept;

  // Marks every block.
  void mark_all() noexcept;

  // The blocks marked, ascending, and clears their marks. Marks set while
  // this runs are either taken or left for the next call.
  std::vector<std::uint64_t> take();

  // Marks `blocks` again (after a save that took them failed).
  void restore(std::span<const std::uint64_t> blocks) noexcept;

 private:
  void set(std::uint64_t block) noexcept;

  BlockLayout layout_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
  std::size_t word_count_;
};

// Puts the marks a save took back unless it completes, so that the next save
// writes those blocks.
class MarksBack {
 public:
  MarksBack(DirtyBlocks& dirty, const std::vector<std::uint64_t>& blocks) noexcept
      : dirty_(dirty), blocks_(blocks) {}
  MarksBack(const MarksBack&) = delete;
  MarksBack& operator=(const MarksBack&) = delete;
  ~MarksBack() {
    if (armed_) dirty_.restore(blocks_);
  }
  void disarm() noexcept { armed_ = false; }

 private:
  DirtyBlocks& dirty_;
  const std::vector<std::uint64_t>& blocks_;
  bool armed_ = true;
};

}  // namespace datatier::detail
