// FileBackedMemory: a Memory pool saved to and restored from a pool file,
// with crash-safe saves through a spare file swapped into place.
#include "datatier/file_backed_memory.h"

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "block_index.h"
#include "bulk_io.h"
#include "checksum.h"
#include "datatier/error.h"
#include "datatier/memory.h"
#include "file_backed_memory_impl.h"
#include "lazy_load.h"
#include "memory_impl.h"
#include "no_throw.h"
#include "open_or_create.h"
#include "parallel.h"
#include "platform/process.h"
#include "platform/userfaultfd.h"
#include "pool_file.h"
#include "progress_report.h"
#include "report_fallback.h"

namespace datatier {

namespace {

MemoryOptions memory_options(const FileOptions& options) {
  MemoryOptions memory = options.memory;
  if (memory.threads == 0) memory.threads = options.threads;
  if (!memory.on_fallback) memory.on_fallback = options.on_fallback;
  return memory;
}

detail::PoolFile open_spare_for(const detail::PoolLocation& at, const detail::PoolFile& pool,
                                const FileOptions& options, bool* created = nullptr) {
  return detail::PoolFile::open_spare(at.dir, detail::spare_name(at.name), pool, options, created);
}

// Whether to move data with direct I/O: a read-only pool's descriptors are
// read-only, and direct I/O would need another writable one.
bool use_direct_io(const FileOptions& options) {
  return options.direct_io && !options.read_only;
}

// Reads the data of `pool` into `memory` and checks it against the header's
// checksum; the values of its blocks go to *index (for an indexed layout).
// Throws for an I/O error; returns a failed check.
detail::Verdict load(const detail::PoolFile& pool, Memory& memory,
                     const detail::BlockLayout& layout, const FileOptions& options,
                     std::optional<detail::BlockIndex>* index, detail::ProgressReport& report) {
  // Read straight into the pool's memory and hash each part as soon as it
  // has arrived: the hash trails the read by one task instead of following it.
  detail::ReadProgress arrived;
  Checksum computed;
  detail::run_side_by_side(
      [&] { detail::read_bulk(pool.data_file(), memory.data(), kHeaderSize, arrived, &report); },
      [&] {
        detail::TreeHashOptions hashing;
        hashing.threads = options.threads;
        hashing.before_hashing = [&](std::uint64_t, std::uint64_t end) {
          return arrived.wait_until(end);
        };
        computed = detail::hash_stream(detail::covered_header(pool.header_bytes()),
                                       std::as_const(memory).data(), layout, index, hashing);
      });
  report.throw_if_cancelled(pool.path());
  return detail::check_checksum(pool.header(), computed);
}

// How many damaged ranges a message lists before it counts the rest.
constexpr std::size_t kRangesNamed = 8;

std::string describe(const std::vector<ByteRange>& ranges) {
  // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, wrongly) of
  // `" " + std::to_string(...)` here.
  std::string out = "damaged data (offset+length):";
  for (std::size_t i = 0; i < std::min(ranges.size(), kRangesNamed); ++i) {
    out.append(" ").append(std::to_string(ranges[i].offset));
    out.append("+").append(std::to_string(ranges[i].length));
  }
  if (ranges.size() > kRangesNamed) {
    out.append(" and ").append(std::to_string(ranges.size() - kRangesNamed));
    out.append(" more ranges");
  }
  return out;
}

// After a checksum mismatch: the blocks whose values, as `computed` from the
// file's bytes, differ from those its valid index recorded; empty without
// such an index.
std::vector<std::uint64_t> damaged_blocks(const detail::PoolLocation& at,
                                          const detail::PoolFile& pool,
                                          const detail::BlockIndex& computed) {
  const auto recorded = detail::BlockIndex::read(
      at.dir, detail::index_name(pool.name()), computed.layout().length(), pool.header().checksum);
  if (!recorded || recorded->layout() != computed.layout()) return {};
  return computed.differing(*recorded);
}

// The verdicts that damage to the file explains, for which the previous
// snapshot is worth loading; the others (versions, the in-use mark) would
// hold for the spare too.
bool damage(const std::error_code& code) {
  return code == errc::size_mismatch || code == errc::bad_magic || code == errc::checksum_mismatch;
}

// Loads the previous snapshot from the spare after the pool file `damaged`
// failed `why`, puts it under the pool's name and sets the damaged file
// aside (for a read-only pool, leaves both names as they are). Throws why's
// errc when the spare cannot serve.
detail::PoolFile restore_previous(const detail::PoolLocation& at, detail::PoolFile damaged,
                                  const detail::Verdict& why, Memory& memory,
                                  detail::Expectation expected, const detail::BlockLayout& layout,
                                  const FileOptions& options, Recovery& recovery,
                                  std::optional<detail::BlockIndex>* index,
                                  detail::ProgressReport& report) {
  const std::string spare = detail::spare_name(at.name);
  // The spare was the pool file, marked in use, until the save that swapped
  // it out: its mark says nothing about its snapshot.
  expected.accept_unclean = true;
  detail::Verdict verdict;
  std::optional<detail::PoolFile> previous;
  try {
    previous.emplace(detail::PoolFile::open(at.dir, spare, expected, &verdict, options.read_only));
    if (use_direct_io(options)) previous->enable_direct_io(options.on_fallback);
    if (!verdict) {
      report.add_total(memory.data().size());
      verdict = load(*previous, memory, layout, options, index, report);
    }
  } catch (const Error& e) {
    if (e.code() == std::errc::operation_canceled) throw;
    verdict = {e.code(), e.what()};
  }
  if (verdict) {
    throw Error(why.code, damaged.path(),
                why.message + "; the previous snapshot in '" + at.dir.entry_path(spare).string() +
                    "' cannot be loaded either: " + verdict.message);
  }
  recovery = {true, why.code, why.message, {}};
  if (!options.read_only) {
    recovery.set_aside =
        at.dir.entry_path(detail::put_spare_in_place(at.dir, at.name, options.on_fallback));
    previous->renamed(at.dir, at.name);
  }
  return std::move(*previous);
}

// Makes `pool`'s index file describe the snapshot just loaded, whose block
// values are `index`: rewritten when missing or stale; removed after a
// salvage, since it vouches for bytes the file no longer holds and must not
// follow the file to the spare's name at the next save.
void keep_pool_index(const detail::PoolLocation& at, const detail::PoolFile& pool,
                     const std::optional<detail::BlockIndex>& index, bool salvaged) {
  const std::string name = detail::index_name(pool.name());
  if (salvaged) {
    at.dir.remove(name);
    at.dir.sync();
    return;
  }
  if (!index) return;
  const Checksum& root = pool.header().checksum;
  const auto recorded = detail::BlockIndex::read(at.dir, name, index->layout().length(), root);
  if (recorded && recorded->layout() == index->layout()) return;
  index->write(at.dir, name, root, pool.file().status().permissions());
  at.dir.sync();
}

// A lazy open under way: the memory taken under the loader, the index it
// checks against.
struct LazyStart {
  Memory memory;
  std::optional<detail::BlockIndex> index;
  std::unique_ptr<detail::LazyLoad> load;
};

// Why `options` (and the kernel) leave the pool to an eager open; "" when
// lazy loading may be tried. Memory a lazy load cannot fill: explicit huge
// pages (userfaultfd fills them only whole and from hugetlbfs), memory
// files (another process may map them), locked memory (locking faults
// every page in at once).
std::string eager_because(const MemoryOptions& memory) {
  if (memory.shareable) return "shareable memory (MemoryOptions::shareable)";
  if (memory.page_size == PageSize::huge_2mib || memory.page_size == PageSize::huge_1gib) {
    return "explicit huge pages";
  }
  if (memory.lock) return "locked memory (MemoryOptions::lock)";
  return {};
}

// Starts loading `pool` lazily: authenticates its index, reserves the
// memory, registers it and loads the first unit (with the header's block).
// Where that cannot be, reports why as FallbackKind::eager_load and returns
// nullopt, having changed nothing.
std::optional<LazyStart> start_lazy(const detail::PoolLocation& at, const detail::PoolFile& pool,
                                    const detail::BlockLayout& layout, const FileOptions& options) {
  const auto eager = [&](const std::string& why) {
    detail::report_fallback(options.on_fallback, FallbackKind::eager_load,
                            pool.path().string() + ": cannot load lazily (" + why +
                                "); loading the whole pool before open() returns");
    return std::nullopt;
  };
  const MemoryOptions memory_wanted = memory_options(options);
  if (std::string why = eager_because(memory_wanted); !why.empty()) return eager(why);
  if (!layout.indexed()) return eager("a pool of one block has no block index");
  std::optional<detail::BlockIndex> index =
      detail::find_index(at.dir, pool.name(), pool.header().checksum, layout).index;
  if (!index) return eager("no valid block index beside the file");
  std::string refused;
  std::optional<platform::UserFaultFd> uffd = platform::UserFaultFd::open(&refused);
  if (!uffd) return eager("userfaultfd is not available to this process: " + refused);
  if (!uffd->features().poison) {
    return eager("the kernel cannot poison pages (UFFDIO_POISON, Linux 6.6), which keeps damaged "
                 "blocks from being served");
  }
  LazyStart lazy{detail::ReservedMemory::reserve(pool.data_size(), memory_wanted),
                 std::move(index), nullptr};
  detail::LazyLoad::Settings settings;
  settings.salvage = options.salvage;
  settings.on_damage = options.on_damage;
  settings.numa = memory_wanted.numa;
  settings.numa_node = memory_wanted.numa_node;
  // As placed, not measured: measuring reads the process's whole memory map.
  const Placement& placement = detail::SharedMemory::placement(lazy.memory);
  settings.huge_pages = placement.page_size == PageSize::transparent;
  lazy.load = std::make_unique<detail::LazyLoad>(
      std::move(*uffd), lazy.memory.data(), placement.page_bytes, layout,
      detail::covered_header(pool.header_bytes()), std::move(settings));
  if (!lazy.load->load_first(pool.data_file(), *lazy.index)) {
    return eager("the first block, which holds the header, does not match its value in the index");
  }
  return lazy;
}

}  // namespace

void FileBackedMemory::Impl::wait_loaded() {
  if (!lazy) return;
  lazy->wait();
  const std::lock_guard lock(load_settling);
  if (!load_settled) {
    load_settled = true;
    try {
      settle_load();
    } catch (...) {
      load_failure = std::current_exception();
    }
  }
  if (load_failure) std::rethrow_exception(load_failure);
}

void FileBackedMemory::Impl::settle_load() {
  std::vector<std::uint64_t> blocks;
  for (const auto& [block, value] : lazy->damaged()) {
    blocks.push_back(block);
    // The pool file's index now says what its bytes are, as an eager open's
    // computed values would: a save never takes the damaged bytes for good.
    pool_index->values()[block] = value;
  }
  if (!blocks.empty()) {
    const std::vector<ByteRange> ranges = layout.data_ranges(blocks);
    if (!options.salvage) {
      throw Error(errc::checksum_mismatch, pool.path(),
                  "the lazy load found blocks that do not match the block index, never served: " +
                      describe(ranges));
    }
    damaged = ranges;
    dirty.restore(blocks);
    if (!options.read_only) keep_pool_index(location, pool, pool_index, true);
  }
  if (const std::exception_ptr failure = lazy->failure()) std::rethrow_exception(failure);
}

void FileBackedMemory::Impl::ready_spare() {
  Impl& s = *this;
  const platform::Directory& dir = s.location.dir;
  const std::string name = detail::spare_name(s.location.name);
  if (s.spare) {
    const platform::FileStatus held = s.spare->file().status();
    const auto entry = dir.entry(name);
    if (entry && entry->id != held.id) {
      throw Error(errc::file_replaced, s.spare->path(),
                  "another file has taken the spare file's name (replaced by another program); "
                  "move it away: nothing was saved");
    }
    if (entry && held.links == 1 && !s.spare_suspect) {
      // Another program may have resized it: restore its size, or the
      // exchange would put a file of the wrong size under the pool's name.
      if (held.size != s.spare->file_size()) s.spare->file().allocate(s.spare->file_size());
      return;
    }
  }
  s.spare.reset();
  // Whatever index lies beside the name describes no file of ours now; it
  // goes before the new spare is written, like any spare's index.
  s.spare_index.reset();
  s.spare_index_file = true;
  s.spare = detail::PoolFile::replace_spare(dir, name, s.pool, s.options);
  dir.sync();
  s.spare_suspect = false;
}

void FileBackedMemory::Impl::forget_spare_index() {
  // Its values no longer describe the spare: their memory takes the next
  // snapshot's values, at the save after this one.
  next_values = std::exchange(spare_index, std::nullopt);
  if (!spare_index_file) return;
  // The index is about to stop describing the spare: its name goes, durably,
  // before the spare changes, or a power cut could leave it vouching for
  // blocks half rewritten.
  location.dir.remove(detail::index_name(spare->name()));
  location.dir.sync();
  spare_index_file = false;
}

void FileBackedMemory::Impl::read_indexes() {
  if (!indexes_unread) return;
  if (!pool_index) {
    pool_index =
        detail::find_index(location.dir, pool.name(), pool.header().checksum, layout).index;
  }
  if (spare) {
    detail::FoundIndex found =
        detail::find_index(location.dir, spare->name(), spare->read_header().checksum, layout);
    spare_index = std::move(found.index);
    spare_index_file = found.file_exists;
  }
  indexes_unread = false;
}

void FileBackedMemory::Impl::start_save() {
  if (options.read_only) detail::throw_read_only(pool.path());
  detail::check_owner_process(owner_process, pool.path());
  read_indexes();
  ready_spare();
  // Until this save completes, a failure anywhere leaves the spare suspect.
  spare_suspect = true;
}

std::optional<detail::BlockIndex> FileBackedMemory::Impl::take_next_values() {
  // Taken, not moved from: a save that fails must leave no emptied index to
  // the next.
  std::optional<detail::BlockIndex> next = std::exchange(next_values, std::nullopt);
  if (next && next->layout() != layout) next.reset();
  return next;
}

void FileBackedMemory::Impl::save(bool full) {
  wait_loaded();
  const detail::SaveGate::Entry one_at_a_time(saving);
  save_entered(full);
}

void FileBackedMemory::Impl::save_entered(bool full) {
  Impl& s = *this;
  s.start_save();
  detail::PoolFile& pool_file = s.pool;
  detail::PoolFile& spare_file = *s.spare;
  const std::span<const std::byte> bytes = std::as_const(s.memory).data();
  std::vector<std::uint64_t> marked;
  if (s.options.changes == Changes::marked) marked = s.dirty.take();
  detail::MarksBack marks_back(s.dirty, marked);

  // 1. The new snapshot goes into the spare file; the pool file is untouched.
  Header header = pool_file.fresh_header();
  header.user_area = s.user_area;
  const detail::CoveredHeader covered = detail::covered_header(header);
  // Progress: the bytes hashed plus the bytes written, each added to the
  // total once known. A cancelled save has changed nothing under the pool's
  // name, and the spare no more than the blocks written (nothing failed: it
  // is not suspect, but its index is gone and the next save is whole).
  detail::ProgressReport report(s.options.progress, 0);
  const auto stop_if_cancelled = [&] {
    if (!report.cancelled()) return;
    s.spare_suspect = false;
    report.throw_if_cancelled(pool_file.path());
  };
  detail::TreeHashOptions hashing;
  hashing.threads = s.options.threads;
  hashing.before_hashing = [&](std::uint64_t begin, std::uint64_t end) {
    return report.add(end - begin);
  };
  std::optional<detail::BlockIndex> next = s.take_next_values();
  if (!full && s.spare_index) {
    // Only the blocks that differ from the spare's snapshot are written.
    if (s.options.changes == Changes::marked && s.pool_index) {
      // Block 0 holds the header, new in every snapshot.
      if (marked.empty() || marked.front() != 0) marked.insert(marked.begin(), 0);
      if (next) {
        *next = *s.pool_index;  // into the memory it has
      } else {
        next.emplace(*s.pool_index);
      }
      report.add_total(detail::byte_count(s.layout.data_ranges(marked)));
      detail::hash_blocks(detail::whole_stream(covered, bytes), s.layout.block_bytes(), marked,
                          next->values(), hashing);
      stop_if_cancelled();
      header.checksum = next->root();
    } else {
      report.add_total(bytes.size());
      header.checksum = detail::hash_stream(covered, bytes, s.layout, &next, hashing);
      stop_if_cancelled();
    }
    std::vector<std::uint64_t> changed = next->differing(*s.spare_index);
    if (changed.empty() || changed.front() != 0) changed.insert(changed.begin(), 0);
    s.forget_spare_index();
    const std::vector<ByteRange> ranges = s.layout.data_ranges(changed);
    report.add_total(detail::byte_count(ranges));
    detail::write_ranges(spare_file.data_file(), bytes, ranges, kHeaderSize, &report);
    stop_if_cancelled();
    spare_file.zero_tail();
  } else {
    // The data is in memory already, so writing and hashing run side by side.
    s.forget_spare_index();
    report.add_total(2 * std::uint64_t{bytes.size()});
    detail::run_side_by_side(
        [&] {
          detail::write_bulk(spare_file.data_file(), bytes, kHeaderSize, &report);
          spare_file.zero_tail();
        },
        [&] { header.checksum = detail::hash_stream(covered, bytes, s.layout, &next, hashing); });
    stop_if_cancelled();
  }
  s.commit(header, std::move(next));
  marks_back.disarm();
  report.finish();
}

void FileBackedMemory::Impl::commit(const Header& header, std::optional<detail::BlockIndex> next) {
  Impl& s = *this;
  detail::PoolFile& pool_file = s.pool;
  detail::PoolFile& spare_file = *s.spare;
  const platform::Directory& dir = s.location.dir;
  spare_file.write_header(header);
  spare_file.file().sync_data();
  // The spare's index, once the snapshot it describes is durable.
  if (next) {
    next->write(dir, detail::index_name(spare_file.name()), header.checksum,
                pool_file.file().status().permissions());
  }

  // 2. One atomic rename puts it under the pool's name, provided both names
  //    still name the files held. With RENAME_EXCHANGE the previous snapshot
  //    lands under the spare name, ready for the next save; without it, the
  //    previous file is replaced and a new spare made. The indexes follow
  //    their files; a cut between the two renames leaves each index beside
  //    a file whose checksum is not its root, where it is ignored.
  detail::check_names_before_swap(dir, pool_file, spare_file);
  const bool exchanged = dir.exchange(spare_file.name(), pool_file.name());
  if (!exchanged) {
    detail::report_no_exchange(s.options.on_fallback, dir, spare_file.name(), pool_file.name());
    dir.rename(spare_file.name(), pool_file.name());
  }
  pool_file.swap_files(spare_file);
  s.spare_index = exchanged ? std::move(s.pool_index) : std::nullopt;
  s.pool_index = std::move(next);
  if (s.pool_index) {
    const std::string pool_index_name = detail::index_name(pool_file.name());
    const std::string spare_index_name = detail::index_name(spare_file.name());
    if (!exchanged || !dir.entry(pool_index_name) ||
        !dir.exchange(spare_index_name, pool_index_name)) {
      dir.rename(spare_index_name, pool_index_name);
    }
  }
  if (!exchanged) {
    // `spare` now holds the replaced pool file, unlinked: never write to it.
    s.spare.reset();
    s.spare = open_spare_for(s.location, pool_file, s.options);
  }
  s.spare_index_file = dir.entry(detail::index_name(s.spare->name())).has_value();
  if (!s.spare_index_file) s.spare_index.reset();

  // 3. Make the renames durable.
  dir.sync();
  s.spare_suspect = false;
}

FileBackedMemory::FileBackedMemory(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
FileBackedMemory::FileBackedMemory(FileBackedMemory&& other) noexcept = default;
FileBackedMemory& FileBackedMemory::operator=(FileBackedMemory&& other) noexcept = default;
FileBackedMemory::~FileBackedMemory() = default;

FileBackedMemory::Impl::~Impl() {
  // The destructor saves nothing: a save still running is stopped, leaving
  // the previous snapshot in place; so is a lazy load, before its memory goes.
  if (job) job->cancel();
  saver.reset();
  lazy.reset();
}

std::filesystem::path FileBackedMemory::spare_path(const std::filesystem::path& path) {
  std::filesystem::path spare = path;
  spare += ".prev";
  return spare;
}

std::filesystem::path FileBackedMemory::index_path(const std::filesystem::path& file) {
  return file.parent_path() / detail::index_name(file.filename().string());
}

FileBackedMemory FileBackedMemory::create(const std::filesystem::path& path, std::size_t data_size,
                                          std::uint64_t user_version, const FileOptions& options) {
  detail::refuse_read_only_create(path, options);
  auto at = detail::PoolLocation::of(path);
  const detail::BlockLayout layout(
      data_size, detail::BlockLayout::checked_block_bytes(options.block_size, path));
  auto pool = detail::PoolFile::create(at.dir, at.name, data_size, user_version,
                                       detail::creation_mode(options));
  detail::RemoveOnFailure remove_pool(at.dir, at.name);
  bool spare_created = false;
  auto spare = open_spare_for(at, pool, options, &spare_created);
  detail::RemoveOnFailure remove_spare(at.dir, spare.name(), spare_created);
  auto memory = Memory::create(data_size, memory_options(options));
  auto spare_index = detail::find_index(at.dir, spare.name(), spare.read_header().checksum, layout);
  auto impl =
      std::make_unique<Impl>(std::move(at), std::move(memory), std::move(pool), std::move(spare),
                             options, layout, std::nullopt, std::move(spare_index), Recovery{});
  remove_pool.disarm();
  remove_spare.disarm();
  return FileBackedMemory(std::move(impl));
}

FileBackedMemory FileBackedMemory::open(const std::filesystem::path& path, std::size_t data_size,
                                        std::uint64_t user_version, const FileOptions& options) {
  auto at = detail::PoolLocation::of(path);
  const detail::BlockLayout layout(
      data_size, detail::BlockLayout::checked_block_bytes(options.block_size, path));
  const detail::Expectation expected{.data_size = data_size,
                                     .user_version = user_version,
                                     .accept_unclean = options.accept_unclean};
  detail::Verdict verdict;
  auto pool = detail::PoolFile::open(at.dir, at.name, expected, &verdict, options.read_only);
  // A verdict that no previous snapshot can answer is reported before any
  // memory is taken, as the order of checks promises.
  const auto throw_unless_fallback = [&] {
    if (!options.fallback_to_previous || !damage(verdict.code)) {
      detail::throw_if_failed(verdict, pool.path());
    }
  };
  throw_unless_fallback();
  if (use_direct_io(options)) pool.enable_direct_io(options.on_fallback);
  std::optional<LazyStart> lazy;
  if (options.lazy && !verdict) lazy = start_lazy(at, pool, layout, options);
  Memory memory = lazy ? std::move(lazy->memory) : Memory::create(data_size, memory_options(options));
  std::optional<detail::BlockIndex> pool_index;
  detail::ProgressReport report(options.progress, data_size);
  if (lazy) {
    pool_index = std::move(lazy->index);
  } else if (!verdict) {
    verdict = load(pool, memory, layout, options, &pool_index, report);
  }
  std::vector<std::uint64_t> salvaged;
  std::vector<ByteRange> damaged;
  if (verdict.code == errc::checksum_mismatch && pool_index) {
    const std::vector<std::uint64_t> blocks = damaged_blocks(at, pool, *pool_index);
    if (!blocks.empty()) {
      const std::vector<ByteRange> ranges = layout.data_ranges(blocks);
      verdict.message += "; " + describe(ranges);
      // Block 0 holds the header too: damage there may be damage to the
      // header, which no part of the file can be trusted without.
      if (options.salvage && blocks.front() != 0) {
        for (const ByteRange& range : ranges) {
          std::fill_n(memory.data().begin() + static_cast<std::ptrdiff_t>(range.offset),
                      range.length, std::byte{0});
        }
        salvaged = blocks;
        damaged = ranges;
        verdict = {};
      }
    }
  }
  Recovery recovery;
  if (verdict) {
    throw_unless_fallback();
    pool = restore_previous(at, std::move(pool), verdict, memory, expected, layout, options,
                            recovery, &pool_index, report);
  }
  std::optional<detail::PoolFile> spare;
  detail::FoundIndex spare_index;
  if (!options.read_only) {
    spare = open_spare_for(at, pool, options);
    // A lazy open's index is the file's, just authenticated; the spare's
    // waits for the first save (read_indexes()), as after a take-over: open()
    // reads nothing whose size grows with the pool's.
    if (!lazy) keep_pool_index(at, pool, pool_index, !salvaged.empty());
    pool.mark_in_use();
    if (!lazy) {
      spare_index =
          detail::find_index(at.dir, spare->name(), spare->read_header().checksum, layout);
    }
  }
  auto impl = std::make_unique<Impl>(std::move(at), std::move(memory), std::move(pool),
                                     std::move(spare), options, layout, std::move(pool_index),
                                     std::move(spare_index), std::move(recovery));
  impl->damaged = std::move(damaged);
  impl->dirty.restore(salvaged);
  if (lazy) {
    impl->indexes_unread = !options.read_only;
    impl->lazy = std::move(lazy->load);
    if (!impl->lazy->start(impl->pool.data_file(), *impl->pool_index)) {
      detail::report_fallback(options.on_fallback, FallbackKind::fewer_threads,
                              impl->pool.path().string() +
                                  ": the system refused the lazy load some of its threads; the "
                                  "others load the pool (with none to read it in order, open() "
                                  "read it before returning)");
    }
  }
  report.finish();
  return FileBackedMemory(std::move(impl));
}

Opened<FileBackedMemory> FileBackedMemory::open_or_create(const std::filesystem::path& path,
                                                          std::size_t data_size,
                                                          std::uint64_t user_version,
                                                          const FileOptions& options) {
  return detail::open_or_create<FileBackedMemory>(path, data_size, user_version, options);
}

std::optional<FileBackedMemory> FileBackedMemory::create(const std::filesystem::path& path,
                                                         std::size_t data_size,
                                                         std::uint64_t user_version,
                                                         const FileOptions& options,
                                                         std::error_code& ec) noexcept {
  return detail::capture(ec, [&] { return create(path, data_size, user_version, options); });
}

std::optional<FileBackedMemory> FileBackedMemory::open(const std::filesystem::path& path,
                                                       std::size_t data_size,
                                                       std::uint64_t user_version,
                                                       const FileOptions& options,
                                                       std::error_code& ec) noexcept {
  return detail::capture(ec, [&] { return open(path, data_size, user_version, options); });
}

std::optional<Opened<FileBackedMemory>> FileBackedMemory::open_or_create(
    const std::filesystem::path& path, std::size_t data_size, std::uint64_t user_version,
    const FileOptions& options, std::error_code& ec) noexcept {
  return detail::capture(ec,
                         [&] { return open_or_create(path, data_size, user_version, options); });
}

void FileBackedMemory::flush(std::error_code& ec) noexcept {
  detail::capture(ec, [&] { flush(); });
}

void FileBackedMemory::flush_full(std::error_code& ec) noexcept {
  detail::capture(ec, [&] { flush_full(); });
}

void FileBackedMemory::close(std::error_code& ec) noexcept {
  detail::capture(ec, [&] { close(); });
}

std::span<std::byte> FileBackedMemory::data() noexcept {
  return impl_ ? impl_->memory.data() : std::span<std::byte>{};
}

std::span<const std::byte> FileBackedMemory::data() const noexcept {
  return impl_ ? std::as_const(impl_->memory).data() : std::span<const std::byte>{};
}

void FileBackedMemory::flush() {
  if (!impl_) detail::throw_moved_from();
  impl_->save(false);
}

void FileBackedMemory::flush_full() {
  if (!impl_) detail::throw_moved_from();
  impl_->save(true);
}

void FileBackedMemory::mark_dirty(std::size_t offset, std::size_t length) noexcept {
  if (!impl_) return;
  if (impl_->cut.active()) impl_->cut.before_write(offset, length);
  impl_->dirty.mark(offset, length);
}

void FileBackedMemory::close() {
  if (!impl_) detail::throw_moved_from();
  if (!impl_->options.read_only) impl_->save(false);
  impl_.reset();
}

Header FileBackedMemory::header() const {
  if (!impl_) detail::throw_moved_from();
  return impl_->pool.read_header();
}

const std::filesystem::path& FileBackedMemory::path() const noexcept {
  static const std::filesystem::path kNone;
  return impl_ ? impl_->pool.path() : kNone;
}

std::span<std::byte> FileBackedMemory::user_area() noexcept {
  return impl_ ? std::span<std::byte>(impl_->user_area) : std::span<std::byte>{};
}

std::span<const std::byte> FileBackedMemory::user_area() const noexcept {
  return impl_ ? std::span<const std::byte>(impl_->user_area) : std::span<const std::byte>{};
}

const std::vector<ByteRange>& FileBackedMemory::damaged() const noexcept {
  static const std::vector<ByteRange> kNone;
  return impl_ ? impl_->damaged : kNone;
}

const Recovery& FileBackedMemory::recovery() const noexcept {
  static const Recovery kNone;
  return impl_ ? impl_->recovery : kNone;
}

void FileBackedMemory::wait_loaded() {
  if (!impl_) detail::throw_moved_from();
  impl_->wait_loaded();
}

void FileBackedMemory::wait_loaded(std::error_code& ec) noexcept {
  detail::capture(ec, [&] { wait_loaded(); });
}

LoadProgress FileBackedMemory::load_progress() const noexcept {
  if (impl_ && impl_->lazy) return impl_->lazy->progress();
  LoadProgress progress;
  if (impl_) progress.loaded_bytes = progress.total_bytes = impl_->memory.data().size();
  return progress;
}

Placement FileBackedMemory::placement() const noexcept {
  return impl_ ? impl_->memory.placement() : Placement{};
}

}  // namespace datatier
