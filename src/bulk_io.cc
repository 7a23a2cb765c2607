// Parallel block transfers for FileBackedMemory's save and load.
#include "bulk_io.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "parallel.h"

namespace datatier::detail {
namespace {

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

struct Piece {
  std::size_t begin;
  std::size_t length;
};

// Splits bytes [begin, end) of a transfer of `bytes` bytes into requests of
// at most kBulkBlock. The partial last page of the transfer becomes a
// request of its own, so every other request is whole pages.
void add_pieces(std::size_t begin, std::size_t end, std::size_t bytes, std::vector<Piece>& pieces) {
  const std::size_t pages_end = bytes / platform::kDirectIoAlignment * platform::kDirectIoAlignment;
  for (std::size_t at = begin; at < std::min(end, pages_end); at += kBulkBlock) {
    pieces.push_back({at, std::min(at + kBulkBlock, std::min(end, pages_end)) - at});
  }
  if (end > pages_end)
    pieces.push_back({std::max(begin, pages_end), end - std::max(begin, pages_end)});
}

// Calls `transfer(begin, length)` for every piece on kBulkDepth threads,
// counting each in `report`; once that is cancelled, for no more.
template <typename Transfer>
void for_each_piece(const std::vector<Piece>& pieces, ProgressReport* report, Transfer transfer) {
  std::atomic<std::size_t> next{0};
  run_parallel(static_cast<unsigned>(std::min<std::size_t>(kBulkDepth, pieces.size())),
               [&](unsigned) {
                 for (std::size_t i = next++; i < pieces.size(); i = next++) {
                   if (report != nullptr && report->cancelled()) return;
                   transfer(pieces[i].begin, pieces[i].length);
                   if (report != nullptr) report->add(pieces[i].length);
                 }
               });
}

// Every request of a transfer of `bytes` bytes.
std::vector<Piece> all_pieces(std::size_t bytes) {
  std::vector<Piece> pieces;
  add_pieces(0, bytes, bytes, pieces);
  return pieces;
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

void write_bulk(const DataFile& file, std::span<const std::byte> data, std::uint64_t offset,
                ProgressReport* report) {
  const ByteRange whole{0, data.size()};
  write_ranges(file, data, std::span(&whole, 1), offset, report);
}

void write_ranges(const DataFile& file, std::span<const std::byte> data,
                  std::span<const ByteRange> ranges, std::uint64_t offset, ProgressReport* report) {
  std::vector<Piece> pieces;
  for (const ByteRange& range : ranges) {
    add_pieces(static_cast<std::size_t>(range.offset),
               static_cast<std::size_t>(range.offset + range.length), data.size(), pieces);
  }
  for_each_piece(pieces, report, [&](std::size_t begin, std::size_t length) {
    descriptor_for(file, length).write_all(data.subspan(begin, length), offset + begin);
  });
}

void write_buffers(const DataFile& file, std::span<const BufferWrite> writes) {
  std::vector<Piece> pieces(writes.size());
  for (std::size_t i = 0; i < writes.size(); ++i) pieces[i] = {i, writes[i].bytes.size()};
  for_each_piece(pieces, nullptr, [&](std::size_t i, std::size_t length) {
    descriptor_for(file, length).write_all(writes[i].bytes, writes[i].offset);
  });
}

void read_bulk(const DataFile& file, std::span<std::byte> out, std::uint64_t offset,
               ReadProgress& progress, ProgressReport* report) {
  try {
    for_each_piece(all_pieces(out.size()), report, [&](std::size_t begin, std::size_t length) {
      read_descriptor_for(file, offset + begin, length)
          .read_exact(out.subspan(begin, length), offset + begin);
      progress.arrived(begin, begin + length);
    });
  } catch (...) {
    progress.failed();
    throw;
  }
  // Cancelled: whoever waits for the bytes not read must stop waiting.
  if (report != nullptr && report->cancelled()) progress.failed();
}

void read_range(const DataFile& file, std::span<std::byte> out, std::uint64_t offset) {
  const std::size_t whole = out.size() / platform::kDirectIoAlignment * platform::kDirectIoAlignment;
  if (whole != 0) read_descriptor_for(file, offset, whole).read_exact(out.first(whole), offset);
  if (whole < out.size()) file.buffered->read_exact(out.subspan(whole), offset + whole);
}

}  // namespace datatier::detail
