// Parallel block transfers for FileBackedMemory's save and load.
#include "bulk_io.h"

#include <algorithm>
#include <atomic>

#include "parallel.h"

namespace datatier::detail {
namespace {

std::size_t block_count(std::size_t bytes) {
  return (bytes + kBulkBlock - 1) / kBulkBlock;
}

// The descriptor to write a block through: direct for whole pages when there
// is one.
const platform::File& descriptor_for(const DataFile& file, std::size_t length) {
  const bool whole_pages = length % platform::kDirectIoAlignment == 0;
  return whole_pages && file.direct != nullptr ? *file.direct : *file.buffered;
}

// The descriptor to read a block through: as for writing, except that a block
// the page cache holds whole is copied from there, several times faster than
// the disk gives it (a file saved by a buffered writer or copied in, say).
const platform::File& read_descriptor_for(const DataFile& file, std::uint64_t offset,
                                          std::size_t length) {
  const platform::File& chosen = descriptor_for(file, length);
  return &chosen == file.direct && file.buffered->in_page_cache(offset, length) ? *file.buffered
                                                                                : chosen;
}

// Calls `transfer(begin, length)` for every block of `bytes` on
// kBulkDepth threads. A partial last page becomes a block of its own, so
// every other block is whole pages.
template <typename Transfer>
void for_each_block(std::size_t bytes, Transfer transfer) {
  const std::size_t pages_end = bytes / platform::kDirectIoAlignment * platform::kDirectIoAlignment;
  const std::size_t full_blocks = block_count(pages_end);
  const std::size_t blocks = full_blocks + (pages_end < bytes ? 1 : 0);
  std::atomic<std::size_t> next{0};
  run_parallel(static_cast<unsigned>(std::min<std::size_t>(kBulkDepth, blocks)), [&](unsigned) {
    for (std::size_t i = next++; i < blocks; i = next++) {
      const std::size_t begin = i < full_blocks ? i * kBulkBlock : pages_end;
      const std::size_t end = i < full_blocks ? std::min(begin + kBulkBlock, pages_end) : bytes;
      transfer(begin, end - begin);
    }
  });
}

}  // namespace

void ReadProgress::arrived(std::uint64_t begin, std::uint64_t end) {
  {
    const std::lock_guard lock(mutex_);
    pending_.emplace(begin, end);
    for (auto it = pending_.find(prefix_); it != pending_.end(); it = pending_.find(prefix_)) {
      prefix_ = it->second;
      pending_.erase(it);
    }
  }
  changed_.notify_all();
}

void ReadProgress::failed() {
  {
    const std::lock_guard lock(mutex_);
    failed_ = true;
  }
  changed_.notify_all();
}

bool ReadProgress::wait_until(std::uint64_t end) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failed_ || prefix_ >= end; });
  return !failed_;
}

void write_bulk(const DataFile& file, std::span<const std::byte> data, std::uint64_t offset) {
  for_each_block(data.size(), [&](std::size_t begin, std::size_t length) {
    descriptor_for(file, length).write_all(data.subspan(begin, length), offset + begin);
  });
}

void read_bulk(const DataFile& file, std::span<std::byte> out, std::uint64_t offset,
               ReadProgress& progress) {
  try {
    for_each_block(out.size(), [&](std::size_t begin, std::size_t length) {
      read_descriptor_for(file, offset + begin, length)
          .read_exact(out.subspan(begin, length), offset + begin);
      progress.arrived(begin, begin + length);
    });
  } catch (...) {
    progress.failed();
    throw;
  }
}

}  // namespace datatier::detail
