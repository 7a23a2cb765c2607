// Moving a pool's data between memory and its file in large requests, several
// in flight, through direct I/O where the file system allows it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>

#include "datatier/block_index.h"
#include "platform/file.h"
#include "progress_report.h"

namespace datatier::detail {

// The two descriptors of one file: buffered, and direct when available.
struct DataFile {
  const platform::File* buffered;
  const platform::File* direct;  // may be null
};

// Tracks which bytes of a read have arrived, so a consumer can start on the
// first bytes while later ones are still being read.
class ReadProgress {
 public:
  // Marks bytes [begin, end) arrived.
  void arrived(std::uint64_t begin, std::uint64_t end);
  // Marks the read failed: waiters return false from now on.
  void failed();
  // Waits until bytes [0, end) have all arrived (true) or the read failed (false).
  bool wait_until(std::uint64_t end);

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, std::uint64_t> pending_;  // arrived ranges past prefix_
  std::uint64_t prefix_ = 0;                        // bytes [0, prefix_) have arrived
  bool failed_ = false;
};

// Bytes per request.
inline constexpr std::size_t kBulkBlock = std::size_t{8} << 20;
// Requests in flight.
inline constexpr unsigned kBulkDepth = 4;

// Every transfer below counts the bytes it moved in `report` (when given),
// and once it is cancelled starts no more requests and returns early.

// Writes `data` at `offset` of the file. Requires: `data` starts on a page
// boundary and `offset` is a multiple of 4096, so the whole pages can go
// through direct I/O; the last partial page goes through the buffered
// descriptor. Durability is the caller's (sync afterwards). Throws
// datatier::Error.
void write_bulk(const DataFile& file, std::span<const std::byte> data, std::uint64_t offset,
                ProgressReport* report = nullptr);

// Writes the bytes of `ranges` of `data` (ascending, each starting on a page
// boundary), each at `offset` + its offset, under the same rules, up to
// kBulkDepth requests at once.
void write_ranges(const DataFile& file, std::span<const std::byte> data,
                  std::span<const ByteRange> ranges, std::uint64_t offset,
                  ProgressReport* report = nullptr);

// Bytes to write at an offset of the file.
struct BufferWrite {
  std::span<const std::byte> bytes;  // starts on a page boundary
  std::uint64_t offset;              // a multiple of 4096
};

// Writes each of `writes` (at most kBulkBlock bytes each; only the last
// page of the file may be partial) under the same rules, up to kBulkDepth
// at once.
void write_buffers(const DataFile& file, std::span<const BufferWrite> writes);

// Reads `out.size()` bytes at `offset` of the file into `out`, under the same
// alignment rules, reporting each block to `progress` as it arrives.
// Throws datatier::Error (a file that ends early: errc::size_mismatch) after
// marking `progress` failed; when cancelled, marks it failed and returns.
void read_bulk(const DataFile& file, std::span<std::byte> out, std::uint64_t offset,
               ReadProgress& progress, ProgressReport* report = nullptr);

// Reads `out.size()` bytes at `offset` (a multiple of 4096) of the file into
// `out` (starting on a page boundary) in one request, whole pages through
// the descriptor read_bulk() would choose, a partial last page through the
// buffered one. Throws datatier::Error as read_bulk().
void read_range(const DataFile& file, std::span<std::byte> out, std::uint64_t offset);

}  // namespace datatier::detail
