// FileBackedMemory: a Memory pool saved to and restored from a pool file,
// with crash-safe saves through a spare file swapped into place.
#include "datatier/file_backed_memory.h"

#include <mutex>
#include <optional>
#include <string>

#include "bulk_io.h"
#include "checksum.h"
#include "datatier/error.h"
#include "datatier/memory.h"
#include "no_throw.h"
#include "open_or_create.h"
#include "parallel.h"
#include "platform/process.h"
#include "pool_file.h"

namespace datatier {

struct FileBackedMemory::Impl {
  Impl(detail::PoolLocation at, Memory mem, detail::PoolFile pool_file, detail::PoolFile spare_file,
       const FileOptions& opts, Recovery found) noexcept
      : location(std::move(at)),
        memory(std::move(mem)),
        pool(std::move(pool_file)),
        spare(std::move(spare_file)),
        options(opts),
        recovery(std::move(found)),
        user_area(pool.header().user_area) {}

  detail::PoolLocation location;  // the directory held open, the pool file's name
  Memory memory;
  detail::PoolFile pool;  // the file under the pool's name: the last snapshot
  // The file under the spare's name: where the next snapshot goes. Empty
  // after a save that had to replace the pool file (no RENAME_EXCHANGE) and
  // could not make a new spare; the next flush() makes one first.
  std::optional<detail::PoolFile> spare;
  FileOptions options;
  Recovery recovery;
  UserArea user_area;  // saved into the header of every snapshot
  int owner_process = platform::process_id();
  std::mutex saving;  // one save at a time
  // A save failed after it began: what the spare holds, what the page cache
  // will still write of it, and which names the directory's durable state
  // gives, are unknown. The next save starts from a new spare.
  bool spare_suspect = false;

  // Makes sure the spare can take the next snapshot: a regular file that
  // only the spare's name links to, of the pool's size. A spare removed
  // since is made again, one linked elsewhere or suspect after a failed save
  // is replaced (and the directory synced, before anything is written into
  // the new one); another file under the spare's name is an error.
  void ready_spare();
};

namespace {

MemoryOptions memory_options(const FileOptions& options) {
  MemoryOptions memory = options.memory;
  if (memory.threads == 0) memory.threads = options.threads;
  return memory;
}

detail::PoolFile open_spare_for(const detail::PoolLocation& at, const detail::PoolFile& pool,
                                const FileOptions& options, bool* created = nullptr) {
  return detail::PoolFile::open_spare(at.dir, detail::spare_name(at.name), pool,
                                      options.direct_io, created);
}

// Reads the data of `pool` into `memory` and checks it against the header's
// checksum. Throws for an I/O error; returns a failed check.
detail::Verdict load(const detail::PoolFile& pool, Memory& memory, const FileOptions& options) {
  // Read straight into the pool's memory and hash each part as soon as it
  // has arrived: the hash trails the read by one task instead of following it.
  detail::ReadProgress arrived;
  Checksum computed;
  detail::run_side_by_side(
      [&] { detail::read_bulk(pool.data_file(), memory.data(), kHeaderSize, arrived); },
      [&] {
        detail::TreeHashOptions hashing;
        hashing.threads = options.threads;
        hashing.before_hashing = [&](std::uint64_t, std::uint64_t end) {
          return arrived.wait_until(end);
        };
        computed = detail::pool_checksum(detail::covered_header(pool.header_bytes()),
                                         std::as_const(memory).data(), hashing);
      });
  return detail::check_checksum(pool.header(), computed);
}

// The verdicts that damage to the file explains, for which the previous
// snapshot is worth loading; the others (versions, the in-use mark) would
// hold for the spare too.
bool damage(const std::error_code& code) {
  return code == errc::size_mismatch || code == errc::bad_magic ||
         code == errc::checksum_mismatch;
}

// Loads the previous snapshot from the spare after the pool file `damaged`
// failed `why`, puts it under the pool's name and sets the damaged file
// aside. Throws why's errc when the spare cannot serve.
detail::PoolFile restore_previous(const detail::PoolLocation& at, detail::PoolFile damaged,
                                  const detail::Verdict& why, Memory& memory,
                                  detail::Expectation expected, const FileOptions& options,
                                  Recovery& recovery) {
  const std::string spare = detail::spare_name(at.name);
  // The spare was the pool file, marked in use, until the save that swapped
  // it out: its mark says nothing about its snapshot.
  expected.accept_unclean = true;
  detail::Verdict verdict;
  std::optional<detail::PoolFile> previous;
  try {
    previous.emplace(detail::PoolFile::open(at.dir, spare, expected, &verdict));
    if (options.direct_io) previous->enable_direct_io();
    if (!verdict) verdict = load(*previous, memory, options);
  } catch (const Error& e) {
    verdict = {e.code(), e.what()};
  }
  if (verdict) {
    throw Error(why.code, damaged.path(),
                why.message + "; the previous snapshot in '" + at.dir.entry_path(spare).string() +
                    "' cannot be loaded either: " + verdict.message);
  }
  const std::string aside = detail::put_spare_in_place(at.dir, at.name);
  previous->renamed(at.dir, at.name);
  recovery = {true, why.code, why.message, at.dir.entry_path(aside)};
  return std::move(*previous);
}

}  // namespace

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
  s.spare = detail::PoolFile::replace_spare(dir, name, s.pool, s.options.direct_io);
  dir.sync();
  s.spare_suspect = false;
}

FileBackedMemory::FileBackedMemory(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
FileBackedMemory::FileBackedMemory(FileBackedMemory&& other) noexcept = default;
FileBackedMemory& FileBackedMemory::operator=(FileBackedMemory&& other) noexcept = default;
FileBackedMemory::~FileBackedMemory() = default;

std::filesystem::path FileBackedMemory::spare_path(const std::filesystem::path& path) {
  std::filesystem::path spare = path;
  spare += ".prev";
  return spare;
}

FileBackedMemory FileBackedMemory::create(const std::filesystem::path& path, std::size_t data_size,
                                          std::uint64_t user_version, const FileOptions& options) {
  auto at = detail::PoolLocation::of(path);
  auto pool = detail::PoolFile::create(at.dir, at.name, data_size, user_version,
                                       detail::creation_mode(options));
  detail::RemoveOnFailure remove_pool(at.dir, at.name);
  bool spare_created = false;
  auto spare = open_spare_for(at, pool, options, &spare_created);
  detail::RemoveOnFailure remove_spare(at.dir, spare.name(), spare_created);
  auto memory = Memory::create(data_size, memory_options(options));
  remove_pool.disarm();
  remove_spare.disarm();
  return FileBackedMemory(std::make_unique<Impl>(std::move(at), std::move(memory), std::move(pool),
                                                 std::move(spare), options, Recovery{}));
}

FileBackedMemory FileBackedMemory::open(const std::filesystem::path& path, std::size_t data_size,
                                        std::uint64_t user_version, const FileOptions& options) {
  auto at = detail::PoolLocation::of(path);
  const detail::Expectation expected{.data_size = data_size,
                                     .user_version = user_version,
                                     .accept_unclean = options.accept_unclean};
  detail::Verdict verdict;
  auto pool = detail::PoolFile::open(at.dir, at.name, expected, &verdict);
  // A verdict that no previous snapshot can answer is reported before any
  // memory is taken, as the order of checks promises.
  const auto throw_unless_fallback = [&] {
    if (!options.fallback_to_previous || !damage(verdict.code)) {
      detail::throw_if_failed(verdict, pool.path());
    }
  };
  throw_unless_fallback();
  if (options.direct_io) pool.enable_direct_io();
  auto memory = Memory::create(data_size, memory_options(options));
  if (!verdict) verdict = load(pool, memory, options);
  Recovery recovery;
  if (verdict) {
    throw_unless_fallback();
    pool = restore_previous(at, std::move(pool), verdict, memory, expected, options, recovery);
  }
  auto spare = open_spare_for(at, pool, options);
  pool.mark_in_use();
  return FileBackedMemory(std::make_unique<Impl>(std::move(at), std::move(memory), std::move(pool),
                                                 std::move(spare), options, std::move(recovery)));
}

Opened<FileBackedMemory> FileBackedMemory::open_or_create(const std::filesystem::path& path,
                                                         std::size_t data_size,
                                                         std::uint64_t user_version,
                                                         const FileOptions& options) {
  return detail::open_or_create<FileBackedMemory>(path, data_size, user_version, options);
}

std::optional<FileBackedMemory> FileBackedMemory::create(const std::filesystem::path& path, std::size_t data_size,
                                        std::uint64_t user_version, const FileOptions& options,
                                        std::error_code& ec) noexcept {
  return detail::capture(ec, [&] { return create(path, data_size, user_version, options); });
}

std::optional<FileBackedMemory> FileBackedMemory::open(const std::filesystem::path& path, std::size_t data_size,
                                      std::uint64_t user_version, const FileOptions& options,
                                      std::error_code& ec) noexcept {
  return detail::capture(ec, [&] { return open(path, data_size, user_version, options); });
}

std::optional<Opened<FileBackedMemory>> FileBackedMemory::open_or_create(const std::filesystem::path& path,
                                                        std::size_t data_size,
                                                        std::uint64_t user_version,
                                                        const FileOptions& options,
                                                        std::error_code& ec) noexcept {
  return detail::capture(ec,
                         [&] { return open_or_create(path, data_size, user_version, options); });
}

void FileBackedMemory::flush(std::error_code& ec) noexcept {
  detail::capture(ec, [&] { flush(); });
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
  Impl& s = *impl_;
  detail::check_owner_process(s.owner_process, s.pool.path());
  const std::lock_guard lock(s.saving);
  s.ready_spare();
  // Until this save completes, a failure anywhere leaves the spare suspect.
  s.spare_suspect = true;
  detail::PoolFile& pool = s.pool;
  detail::PoolFile& spare = *s.spare;
  const platform::Directory& dir = s.location.dir;
  const std::span<const std::byte> bytes = std::as_const(s.memory).data();

  // 1. The new snapshot goes into the spare file; the pool file is untouched.
  //    The data is in memory already, so writing and hashing run side by side.
  Header header = pool.fresh_header();
  header.user_area = s.user_area;
  detail::run_side_by_side(
      [&] {
        detail::write_bulk(spare.data_file(), bytes, kHeaderSize);
        spare.zero_tail();
      },
      [&] {
        detail::TreeHashOptions hashing;
        hashing.threads = s.options.threads;
        header.checksum = detail::pool_checksum(detail::covered_header(header), bytes, hashing);
      });
  spare.write_header(header);
  spare.file().sync_data();

  // 2. One atomic rename puts it under the pool's name, provided both names
  //    still name the files held. With RENAME_EXCHANGE the previous snapshot
  //    lands under the spare name, ready for the next save; without it, the
  //    previous file is replaced and a new spare made.
  detail::check_names_before_swap(dir, pool, spare);
  const bool exchanged = dir.exchange(spare.name(), pool.name());
  if (!exchanged) dir.rename(spare.name(), pool.name());
  pool.swap_files(spare);
  if (!exchanged) {
    // `spare` now holds the replaced pool file, unlinked: never write to it.
    s.spare.reset();
    s.spare = open_spare_for(s.location, pool, s.options);
  }

  // 3. Make the rename itself durable.
  dir.sync();
  s.spare_suspect = false;
}

void FileBackedMemory::close() {
  flush();
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

const Recovery& FileBackedMemory::recovery() const noexcept {
  static const Recovery kNone;
  return impl_ ? impl_->recovery : kNone;
}

}  // namespace datatier
