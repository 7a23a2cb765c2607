// MmapFile: a Datapool over a shared mapping of a pool file.
#include "datatier/mmap_file.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "block_index.h"
#include "checksum.h"
#include "datatier/error.h"
#include "fault_in.h"
#include "no_throw.h"
#include "open_or_create.h"
#include "parallel.h"
#include "platform/mapping.h"
#include "platform/memory_map.h"
#include "platform/process.h"
#include "pool_file.h"
#include "progress_report.h"

namespace datatier {
namespace {

// Bytes per step of write_back().
constexpr std::uint64_t kWriteBackStep = std::uint64_t{8} << 20;

// Writes the data bytes of `file` that `mapping` (the whole file) dirtied
// back to it and waits for them, while other threads of ours read the
// mapping.
//
// Write-back write-protects each page-table entry that maps a page it
// writes, and while threads of ours run on other cores every such change
// interrupts them to flush their TLBs (on a virtual machine, an exit to the
// hypervisor): 1 GiB took 0.55 s to write back beside one busy thread of ours
// and 0.2 s beside none. So each step of dirty pages first loses our entries
// (the pages stay in the page cache) and only then starts being written back:
// write-back finds no entries to change, and the pages the reading threads
// map again are clean and read-only. Steps the kernel has written back
// already (its background write-back, say) are write-protected already and
// keep their entries. Steps start at multiples of kWriteBackStep in the file,
// so none splits a large page-cache folio: writing back a folio walks all of
// its entries, and those past the dropped range would still be writable
// (4 GiB: about 0.08 s of CPU in interrupts).
//
// A save that hashes only marked blocks has no threads of ours reading the
// mapping meanwhile: it keeps its entries (dropping them would cost more than
// the save, and every page would fault again afterwards).
void write_back(const detail::PoolFile& file, const platform::Mapping& mapping,
                bool others_reading) {
  if (!others_reading) {
    mapping.sync(kHeaderSize, file.data_size(), file.path());
    return;
  }
  const std::uint64_t end = kHeaderSize + file.data_size();
  for (std::uint64_t at = 0; at < end; at += kWriteBackStep) {
    const std::uint64_t step_end = std::min(at + kWriteBackStep, end);
    const std::uint64_t data_begin = std::max(at, std::uint64_t{kHeaderSize});
    if (file.file().may_have_dirty_pages(data_begin, step_end - data_begin)) {
      mapping.drop_page_table_entries(at, step_end - at);
      file.file().start_writeback(data_begin, step_end - data_begin);
    }
  }
  mapping.sync(kHeaderSize, file.data_size(), file.path());
}

}  // namespace

struct MmapFile::Impl {
  Impl(detail::PoolLocation at, detail::PoolFile pool_file, platform::Mapping map,
       const FileOptions& options, const detail::BlockLayout& blocks)
      : location(std::move(at)),
        file(std::move(pool_file)),
        mapping(std::move(map)),
        threads(options.threads),
        progress(options.progress),
        read_only(options.read_only),
        changes(options.changes),
        user_area(file.header().user_area),
        layout(blocks),
        dirty(blocks) {}

  detail::PoolLocation location;  // the directory held open, the file's name
  detail::PoolFile file;
  platform::Mapping mapping;  // the whole file, header included
  unsigned threads;           // for hashing and faulting pages in
  unsigned threads_used = 1;  // that faulted the pages in (or read them in)
  Progress progress;          // FileOptions::progress
  bool read_only;             // FileOptions::read_only: never saved
  Changes changes;            // what a save hashes again
  UserArea user_area;         // saved into the header by every save
  detail::BlockLayout layout;
  // The block values of the data as the last save or open() hashed it: with
  // Changes::marked, a save hashes only the blocks marked since.
  std::optional<detail::BlockIndex> index;
  // Memory for the next save's values, the last but one save's: hashing
  // into memory faulted in already.
  std::optional<detail::BlockIndex> next_values;
  detail::DirtyBlocks dirty;  // mark_dirty()'s marks
  int owner_process = platform::process_id();
  std::mutex saving;  // one save at a time
  // The first failure of writing back, writing the header or syncing: the
  // page cache may have dropped what it could not write, so no later save
  // can vouch for the file.
  std::optional<Error> write_failed;

  std::span<std::byte> data() const noexcept {
    return mapping.bytes().subspan(kHeaderSize, file.data_size());
  }

  // How hashing counts in `report`, and stops once that is cancelled.
  detail::TreeHashOptions hashing(detail::ProgressReport& report) const {
    detail::TreeHashOptions options;
    options.threads = threads;
    options.before_hashing = [&report](std::uint64_t begin, std::uint64_t end) {
      return report.add(end - begin);
    };
    return options;
  }

  // The checksum of `header` and the data; the block values, in `next`.
  Checksum checksum(const detail::CoveredHeader& header, std::optional<detail::BlockIndex>* next,
                    detail::ProgressReport& report) const {
    report.add_total(file.data_size());
    return detail::hash_stream(header, data(), layout, next, hashing(report));
  }

  // The same from the values of the last save, hashing again only block 0
  // (the header's) and `marked`, which this takes from the marks.
  Checksum checksum_of_marked(const detail::CoveredHeader& header,
                              std::vector<std::uint64_t>& marked,
                              std::optional<detail::BlockIndex>* next,
                              detail::ProgressReport& report) {
    marked = dirty.take();
    if (marked.empty() || marked.front() != 0) marked.insert(marked.begin(), 0);
    if (*next) {
      **next = *index;  // into the memory it has
    } else {
      next->emplace(*index);
    }
    report.add_total(detail::byte_count(layout.data_ranges(marked)));
    if (!detail::hash_blocks(detail::whole_stream(header, data()), layout.block_bytes(), marked,
                             (*next)->values(), hashing(report))) {
      return {};
    }
    return (*next)->root();
  }

  // flush() (the in-use mark kept) and close() (the mark cleared).
  void save(bool keep_mark);
};

MmapFile::MmapFile(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
MmapFile::MmapFile(MmapFile&& other) noexcept = default;
MmapFile& MmapFile::operator=(MmapFile&& other) noexcept = default;
MmapFile::~MmapFile() = default;

MmapFile MmapFile::create(const std::filesystem::path& path, std::size_t data_size,
                          std::uint64_t user_version, const FileOptions& options) {
  detail::refuse_read_only_create(path, options);
  auto at = detail::PoolLocation::of(path);
  const detail::BlockLayout layout(
      data_size, detail::BlockLayout::checked_block_bytes(options.block_size, path));
  auto file = detail::PoolFile::create(at.dir, at.name, data_size, user_version,
                                       detail::creation_mode(options));
  detail::RemoveOnFailure cleanup(at.dir, at.name);
  auto mapping = platform::Mapping::shared(file.file(), static_cast<std::size_t>(file.file_size()));
  // For reading: faulting a new file's pages in for writing would dirty
  // every one of them, and the kernel would write all those zeros back while
  // the caller fills the pool, its first writes waiting on that write-back
  // (4 GiB: create 1.0-4.0 s and a fill of 2.8-3.7 s, against 0.2-0.3 s and
  // 1.9-2.5 s this way).
  const unsigned threads_used = detail::fault_in(mapping, platform::Mapping::Use::reading,
                                                 options.threads, options.on_fallback);
  auto impl =
      std::make_unique<Impl>(std::move(at), std::move(file), std::move(mapping), options, layout);
  impl->threads_used = threads_used;
  cleanup.disarm();
  return MmapFile(std::move(impl));
}

MmapFile MmapFile::open(const std::filesystem::path& path, std::size_t data_size,
                        std::uint64_t user_version, const FileOptions& options) {
  auto at = detail::PoolLocation::of(path);
  const detail::BlockLayout layout(
      data_size, detail::BlockLayout::checked_block_bytes(options.block_size, path));
  auto file = detail::PoolFile::open(at.dir, at.name,
                                     {.data_size = data_size,
                                      .user_version = user_version,
                                      .accept_unclean = options.accept_unclean},
                                     nullptr, options.read_only);
  // A hole of a sparse file would get its page only when the mapping first
  // writes it, and on a full tmpfs that write raises SIGBUS: give every
  // hole its blocks now, where a full disk is an error. (Reading a hole
  // maps a zero page: a read-only pool needs no blocks.)
  if (!options.read_only) file.file().reserve(file.file_size());
  auto mapping = platform::Mapping::shared(file.file(), static_cast<std::size_t>(file.file_size()),
                                           !options.read_only);
  auto impl =
      std::make_unique<Impl>(std::move(at), std::move(file), std::move(mapping), options, layout);
  // Hashing reads every page, which also brings the file into memory, on
  // all the threads at once.
  impl->threads_used = detail::resolve_threads(options.threads);
  detail::ProgressReport report(options.progress, 0);
  const Checksum computed =
      impl->checksum(detail::covered_header(impl->file.header_bytes()), &impl->index, report);
  report.throw_if_cancelled(impl->file.path());
  detail::throw_if_failed(detail::check_checksum(impl->file.header(), computed), impl->file.path());
  if (!options.read_only) impl->file.mark_in_use();
  report.finish();
  return MmapFile(std::move(impl));
}

Opened<MmapFile> MmapFile::open_or_create(const std::filesystem::path& path, std::size_t data_size,
                                          std::uint64_t user_version, const FileOptions& options) {
  return detail::open_or_create<MmapFile>(path, data_size, user_version, options);
}

std::optional<MmapFile> MmapFile::create(const std::filesystem::path& path, std::size_t data_size,
                                         std::uint64_t user_version, const FileOptions& options,
                                         std::error_code& ec) noexcept {
  return detail::capture(ec, [&] { return create(path, data_size, user_version, options); });
}

std::optional<MmapFile> MmapFile::open(const std::filesystem::path& path, std::size_t data_size,
                                       std::uint64_t user_version, const FileOptions& options,
                                       std::error_code& ec) noexcept {
  return detail::capture(ec, [&] { return open(path, data_size, user_version, options); });
}

std::optional<Opened<MmapFile>> MmapFile::open_or_create(const std::filesystem::path& path,
                                                         std::size_t data_size,
                                                         std::uint64_t user_version,
                                                         const FileOptions& options,
                                                         std::error_code& ec) noexcept {
  return detail::capture(ec,
                         [&] { return open_or_create(path, data_size, user_version, options); });
}

void MmapFile::flush(std::error_code& ec) noexcept {
  detail::capture(ec, [&] { flush(); });
}

void MmapFile::close(std::error_code& ec) noexcept {
  detail::capture(ec, [&] { close(); });
}

std::span<std::byte> MmapFile::data() noexcept {
  return impl_ ? impl_->data() : std::span<std::byte>{};
}

std::span<const std::byte> MmapFile::data() const noexcept {
  return impl_ ? impl_->data() : std::span<const std::byte>{};
}

Placement MmapFile::placement() const noexcept {
  if (!impl_) return {};
  Placement placement;
  placement.page_bytes = impl_->mapping.page_bytes();
  placement.threads = impl_->threads_used;
  placement.huge_bytes = static_cast<std::size_t>(platform::huge_page_bytes(impl_->data()));
  return placement;
}

void MmapFile::Impl::save(bool keep_mark) {
  if (read_only) detail::throw_read_only(file.path());
  detail::check_owner_process(owner_process, file.path());
  const std::lock_guard lock(saving);
  if (write_failed) throw *write_failed;
  // Another program may have truncated or extended the file. Hashing the
  // mapping past a new end of file would raise SIGBUS, and a header written
  // now would vouch for a file of the wrong size: refuse before either.
  if (const std::uint64_t found = file.file().size(); found != file.file_size()) {
    throw Error(errc::size_mismatch, file.path(),
                "expected a file of " + std::to_string(file.file_size()) + " bytes, found " +
                    std::to_string(found) + " bytes: resized while the pool held it; not flushed");
  }
  // A file removed or renamed since: its bytes would be saved where no
  // open() looks for them.
  if (!file.named_by(location.dir)) {
    throw Error(errc::file_replaced, file.path(),
                "the name no longer names the file this pool holds (removed, renamed or replaced "
                "by another program); not flushed");
  }
  // Data first, then the header that vouches for it: a crash in between
  // leaves the old header, whose checksum no longer matches. Writing the
  // data back and hashing it only read the mapping, so they run side by side.
  Header header = file.fresh_header();
  header.user_area = user_area;
  if (keep_mark) header.options |= kOptionInUse;
  std::optional<detail::BlockIndex> next = std::exchange(next_values, std::nullopt);
  std::vector<std::uint64_t> marked;
  detail::ProgressReport report(progress, 0);
  const bool only_marked = changes == Changes::marked && index;
  try {
    detail::run_side_by_side([&] { write_back(file, mapping, !only_marked); },
                             [&] {
                               const auto covered = detail::covered_header(header);
                               header.checksum =
                                   only_marked ? checksum_of_marked(covered, marked, &next, report)
                                               : checksum(covered, &next, report);
                             });
  } catch (const Error& e) {
    write_failed = e;
    throw;
  }
  if (report.cancelled()) {
    // The data is written back, the header still the last save's: the file
    // reads as unclean, as between saves. Nothing failed; the marks return.
    dirty.restore(marked);
    report.throw_if_cancelled(file.path());
  }
  try {
    file.rewrite_header(header);
    if (!keep_mark) file.clear_header_copy();
  } catch (const Error& e) {
    write_failed = e;
    throw;
  }
  next_values = std::exchange(index, std::move(next));
  report.finish();
}

void MmapFile::flush() {
  if (!impl_) detail::throw_moved_from();
  impl_->save(/*keep_mark=*/true);
}

void MmapFile::mark_dirty(std::size_t offset, std::size_t length) noexcept {
  if (impl_) impl_->dirty.mark(offset, length);
}

void MmapFile::close() {
  if (!impl_) detail::throw_moved_from();
  if (!impl_->read_only) impl_->save(/*keep_mark=*/false);
  impl_.reset();
}

std::span<std::byte> MmapFile::user_area() noexcept {
  return impl_ ? std::span<std::byte>(impl_->user_area) : std::span<std::byte>{};
}

std::span<const std::byte> MmapFile::user_area() const noexcept {
  return impl_ ? std::span<const std::byte>(impl_->user_area) : std::span<const std::byte>{};
}

Header MmapFile::header() const {
  if (!impl_) detail::throw_moved_from();
  return impl_->file.read_header();
}

const std::filesystem::path& MmapFile::path() const noexcept {
  static const std::filesystem::path kNone;
  return impl_ ? impl_->file.path() : kNone;
}

}  // namespace datatier
