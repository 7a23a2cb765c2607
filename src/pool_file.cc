// Shared lifecycle of a pool file: creation, checked opening, header writes.
#include "pool_file.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "datatier/error.h"
#include "header_layout.h"
#include "platform/clock.h"
#include "platform/proc_locks.h"
#include "platform/process.h"
#include "platform/system_error.h"
#include "report_fallback.h"

namespace datatier::detail {
namespace {

constexpr const char* kHeldByAnotherPool =
    "another pool object, in this or another process, holds the file";

// Gives the entry `from` of `dir` the first free name of `name`.damaged,
// `name`.damaged.1, ...; returns it.
std::string set_aside(const platform::Directory& dir, const std::string& from,
                      const std::string& name) {
  constexpr int kNames = 1000;
  for (int i = 0; i < kNames; ++i) {
    std::string aside = name;
    aside.append(".damaged");
    if (i > 0) aside.append(".").append(std::to_string(i));
    if (dir.rename_if_free(from, aside)) return aside;
  }
  throw Error(
      std::make_error_code(std::errc::file_exists), dir.entry_path(from),
      "cannot set the damaged pool file aside: " + std::to_string(kNames) + " names are taken");
}

}  // namespace

void lock_or_throw(const platform::File& file, const std::string& what, const std::string& then) {
  if (!file.try_lock_exclusive()) {
    throw Error(errc::pool_in_use, file.path(), what + lock_holders_text(file) + then);
  }
}

std::string lock_holders_text(const platform::File& file) {
  std::vector<int> holders;
  try {
    holders = platform::flock_holders(file.status().id);
  } catch (const Error&) {
    // fstat failed: the kernel has not told; the verdict stands without.
  }
  if (holders.empty()) return "";
  if (holders.size() == 1 && holders.front() == platform::process_id()) {
    return " (locked by this process, " + std::to_string(holders.front()) + ")";
  }
  std::string text = holders.size() == 1 ? " (locked by process " : " (locked by processes ";
  for (std::size_t i = 0; i < holders.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(holders[i]);
  }
  return text + ")";
}

RemoveOnFailure::~RemoveOnFailure() {
  if (!armed_) return;
  try {
    dir_.remove(name_);
  } catch (const Error&) {
    // Best effort: the failure that got us here is the one to report.
  }
}

void report_no_exchange(const FallbackHandler& on_fallback, const platform::Directory& dir,
                        const std::string& a, const std::string& b) {
  report_fallback(on_fallback, FallbackKind::no_rename_exchange,
                  "the file system cannot exchange '" + dir.entry_path(a).string() + "' and '" +
                      dir.entry_path(b).string() +
                      "' atomically (renameat2 RENAME_EXCHANGE); renamed instead");
}

std::string put_spare_in_place(const platform::Directory& dir, const std::string& name,
                               const FallbackHandler& on_fallback) {
  const std::string spare = spare_name(name);
  // Only once the exchange has put the spare under the pool's name does the
  // old pool file leave the spare's.
  std::string aside;
  if (dir.exchange(spare, name)) {
    aside = set_aside(dir, spare, name);
  } else {
    report_no_exchange(on_fallback, dir, spare, name);
    aside = set_aside(dir, name, name);
    dir.rename(spare, name);
  }
  dir.sync();
  return aside;
}

std::uint64_t recorded_data_size(std::size_t data_size) noexcept {
  return data_size % kHeaderSize == 0 ? 0 : std::uint64_t{data_size};
}

void throw_moved_from() {
  throw Error(std::make_error_code(std::errc::bad_file_descriptor), {}, "the pool was moved from");
}

mode_t creation_mode(const FileOptions& options) noexcept {
  return static_cast<mode_t>(options.create_mode & std::filesystem::perms::mask);
}

std::uint64_t checked_file_size(const std::filesystem::path& path, std::size_t data_size) {
  if (path.empty()) {
    throw Error(std::make_error_code(std::errc::invalid_argument), path, "empty pool path");
  }
  const auto size = pool_file_size(data_size);
  if (!size) {
    throw Error(std::make_error_code(std::errc::invalid_argument), path,
                "data size " + std::to_string(data_size) + " makes the file too large");
  }
  return *size;
}

PoolLocation PoolLocation::of(const std::filesystem::path& path) {
  const std::filesystem::path resolved = platform::resolve_path(path);
  return {platform::Directory::open(resolved.parent_path()), resolved.filename().string()};
}

std::string spare_name(const std::string& name) {
  return name + ".prev";
}

PoolFile PoolFile::create(const platform::Directory& dir, const std::string& name,
                          std::size_t data_size, std::uint64_t user_version, mode_t mode) {
  const std::uint64_t file_size = checked_file_size(dir.entry_path(name), data_size);
  PoolFile pool(dir.create_file(name, mode), name, data_size, user_version, file_size);
  RemoveOnFailure cleanup(dir, name);
  lock_or_throw(pool.file_, kHeldByAnotherPool, "");
  pool.file_.allocate(file_size);
  Header header;
  header.user_version = user_version;
  header.data_size = recorded_data_size(data_size);
  header.options = kOptionInUse;
  pool.write_header(header);
  pool.file_.sync();
  dir.sync();
  cleanup.disarm();
  return pool;
}

PoolFile PoolFile::open(const platform::Directory& dir, const std::string& name,
                        const Expectation& expected, Verdict* failed, bool read_only) {
  checked_file_size(dir.entry_path(name), expected.data_size);
  PoolFile pool(dir.open_file(name, read_only ? platform::File::Access::read_only
                                              : platform::File::Access::read_write),
                name, expected.data_size, expected.user_version, 0);
  if (!read_only) {
    lock_or_throw(pool.file_, kHeldByAnotherPool, "");
  } else if (!pool.file_.try_lock_shared()) {
    throw Error(errc::pool_in_use, pool.file_.path(),
                "a pool object, in this or another process, holds the file to write it" +
                    lock_holders_text(pool.file_));
  }
  pool.file_size_ = pool.file_.size();
  Verdict verdict = check_file_size(pool.file_size_, expected.data_size);
  if (!verdict) {
    pool.load_header();
    verdict = check_header(pool.header_, expected);
  }
  if (verdict && failed == nullptr) throw_if_failed(verdict, pool.path());
  if (failed != nullptr) *failed = std::move(verdict);
  return pool;
}

namespace {

// How often open_spare() looks again when another program changes the
// spare's name between its look and its open or create.
constexpr int kSpareAttempts = 3;

// Whether an existing entry may be written as the spare of a pool file
// whose status is `pool`: a regular file that nothing else names, whose
// owner is the pool's or can be made so.
bool writable_spare(const platform::FileStatus& entry, const platform::FileStatus& pool) {
  const bool same_owner = entry.owner == pool.owner && entry.group == pool.group;
  return entry.regular() && entry.links == 1 && (same_owner || platform::running_as_root());
}

bool raced(const Error& e) {
  return e.code() == std::errc::no_such_file_or_directory || e.code() == std::errc::file_exists ||
         e.code() == std::errc::too_many_symbolic_link_levels;
}

}  // namespace

PoolFile PoolFile::open_spare(const platform::Directory& dir, const std::string& name,
                              const PoolFile& pool, const FileOptions& options, bool* created) {
  const platform::FileStatus owner = pool.file_.status();
  bool made = false;
  std::optional<platform::File> file;
  for (int attempt = 1; !file; ++attempt) {
    try {
      const auto entry = dir.entry(name);
      if (!entry) {
        file.emplace(dir.create_file(name, owner.permissions()));
        made = true;
      } else if (entry->directory()) {
        platform::throw_errno(EISDIR, dir.entry_path(name), "cannot use as the spare file");
      } else if (!writable_spare(*entry, owner)) {
        // Never written through: only the name goes.
        dir.remove(name);
      } else {
        platform::File opened = dir.open_file(name, platform::File::Access::read_write);
        if (opened.status().id == entry->id) file.emplace(std::move(opened));
      }
    } catch (const Error& e) {
      if (!raced(e) || attempt == kSpareAttempts) throw;
    }
    if (!file && attempt == kSpareAttempts) {
      throw Error(std::make_error_code(std::errc::file_exists), dir.entry_path(name),
                  "the spare file's name keeps changing under another program");
    }
  }
  PoolFile spare(std::move(*file), name, pool.data_size_, pool.user_version_, pool.file_size_);
  RemoveOnFailure cleanup(dir, name, made);
  lock_or_throw(spare.file_, kHeldByAnotherPool, "");
  spare.match_owner_and_mode(owner);
  if (spare.file_.size() != spare.file_size_) spare.file_.allocate(spare.file_size_);
  if (options.direct_io) spare.enable_direct_io(options.on_fallback);
  cleanup.disarm();
  if (created != nullptr) *created = made;
  return spare;
}

PoolFile PoolFile::replace_spare(const platform::Directory& dir, const std::string& name,
                                 const PoolFile& pool, const FileOptions& options) {
  dir.remove(name);
  return open_spare(dir, name, pool, options);
}

PoolFile PoolFile::adopt(platform::File file, std::string name, std::size_t data_size,
                         std::uint64_t user_version, std::uint64_t file_size,
                         const std::array<std::byte, kHeaderSize>* header) {
  PoolFile pool(std::move(file), std::move(name), data_size, user_version, file_size);
  if (header != nullptr) {
    pool.header_bytes_ = *header;
    pool.header_ = decode_header(pool.header_bytes_);
  }
  return pool;
}

void PoolFile::match_owner_and_mode(const platform::FileStatus& pool) {
  const platform::FileStatus mine = file_.status();
  if ((mine.owner != pool.owner || mine.group != pool.group) && platform::running_as_root()) {
    file_.set_owner(pool.owner, pool.group);
  }
  if (mine.permissions() != pool.permissions()) file_.set_mode(pool.permissions());
}

bool PoolFile::named_by(const platform::Directory& dir) const {
  const platform::FileStatus held = file_.status();
  const auto entry = dir.entry(name_);
  return held.links > 0 && entry && entry->id == held.id;
}

void PoolFile::renamed(const platform::Directory& dir, std::string name) {
  const std::filesystem::path path = dir.entry_path(name);
  name_ = std::move(name);
  file_.renamed(path);
  if (direct_) direct_->renamed(path);
}

void check_names_before_swap(const platform::Directory& dir, const PoolFile& pool,
                             const PoolFile& spare) {
  const bool pool_ok = pool.named_by(dir);
  const bool spare_ok = spare.named_by(dir);
  if (pool_ok && spare_ok) return;
  const std::string which = !pool_ok && !spare_ok ? "neither name names its file"
                            : !pool_ok            ? "the pool file's name no longer names it"
                                                  : "the spare file's name no longer names it";
  throw Error(errc::file_replaced, pool.path(),
              "not exchanged with '" + spare.path().string() + "': " + which +
                  " (removed, renamed or replaced by another program); the new snapshot was "
                  "not put in place");
}

void refuse_read_only_create(const std::filesystem::path& path, const FileOptions& options) {
  if (!options.read_only) return;
  throw Error(std::make_error_code(std::errc::invalid_argument), path,
              "a read-only pool can only be opened, never created");
}

void throw_read_only(const std::filesystem::path& path) {
  throw Error(std::make_error_code(std::errc::operation_not_permitted), path,
              "the pool was opened read-only: nothing is saved");
}

void check_owner_process(int owner, const std::filesystem::path& path) {
  if (platform::process_id() == owner) return;
  throw Error(std::make_error_code(std::errc::operation_not_permitted), path,
              "a pool can be saved only by the process that opened it (this is process " +
                  std::to_string(platform::process_id()) + ", the pool was opened by " +
                  std::to_string(owner) + ")");
}

void PoolFile::enable_direct_io(const FallbackHandler& on_fallback) {
  direct_ = file_.open_direct();
  if (!direct_) {
    report_fallback(on_fallback, FallbackKind::buffered_io,
                    "the file system refused direct I/O (O_DIRECT) for '" + path().string() +
                        "': data moves through the page cache");
  }
}

void PoolFile::swap_files(PoolFile& other) noexcept {
  swap_descriptors(file_, other.file_);  // found by argument-dependent lookup
  if (direct_ && other.direct_) {
    swap_descriptors(*direct_, *other.direct_);
  } else {
    std::swap(direct_, other.direct_);
  }
  std::swap(header_, other.header_);
  std::swap(header_bytes_, other.header_bytes_);
}

Header PoolFile::read_header() const {
  std::array<std::byte, kHeaderSize> bytes;
  file_.read_exact(bytes, 0);
  recover_first_sector(bytes);
  return decode_header(bytes);
}

void PoolFile::load_header() {
  file_.read_exact(header_bytes_, 0);
  recover_first_sector(header_bytes_);
  header_ = decode_header(header_bytes_);
}

Header PoolFile::fresh_header() const {
  const platform::ClockReadings clocks = platform::read_clocks();
  Header header;
  header.time_monotonic_s = clocks.monotonic_s;
  header.time_unix_s = clocks.unix_s;
  header.time_monotonic_ns = clocks.monotonic_ns;
  header.time_unix_ns = clocks.unix_ns;
  header.user_version = user_version_;
  header.data_size = recorded_data_size(data_size_);
  return header;
}

void PoolFile::write_header(const Header& header) {
  std::array<std::byte, kHeaderSize> bytes;
  encode_header(header, bytes);
  file_.write_all(bytes, 0);
  header_ = header;
  header_bytes_ = bytes;
}

void PoolFile::rewrite_header(const Header& header) {
  std::array<std::byte, kHeaderSize> bytes;
  encode_header(header, bytes);
  std::copy_n(bytes.begin(), kSectorSize, bytes.begin() + kHeaderCopyOffset);
  const auto copy = std::span(bytes).subspan(kHeaderCopyOffset, kSectorSize);
  file_.write_all(copy, kHeaderCopyOffset);
  file_.sync_data();
  // Every sector but the copy's: a power cut may fill any sector being
  // written with garbage, and the copy must survive the header's write.
  const std::span<const std::byte> all(bytes);
  file_.write_all(all.first(kHeaderCopyOffset), 0);
  file_.write_all(all.subspan(kHeaderCopyOffset + kSectorSize), kHeaderCopyOffset + kSectorSize);
  file_.sync_data();
  header_ = header;
  header_bytes_ = bytes;
}

void PoolFile::clear_header_copy() {
  const std::array<std::byte, kSectorSize> zeros{};
  file_.write_all(zeros, kHeaderCopyOffset);
  file_.sync_data();
  std::fill_n(header_bytes_.begin() + kHeaderCopyOffset, kSectorSize, std::byte{0});
}

void PoolFile::mark_in_use() {
  // Only the in-use sector is written: the sector holding the magic and the
  // checksum, and every byte the checksum covers, stay exactly as the last
  // snapshot left them. A power cut that tears the write leaves that sector
  // not zero, which still reads as in use.
  std::array<std::byte, kHeaderSize> marked = header_bytes_;
  encode_in_use_sector(marked);
  const auto sector = std::span(marked).subspan(kInUseSectorOffset, kInUseSectorSize);
  file_.write_all(sector, kInUseSectorOffset);
  file_.sync_data();
  header_bytes_ = marked;
  header_.options |= kOptionInUse;
}

void PoolFile::zero_tail() {
  const std::uint64_t data_end = kHeaderSize + std::uint64_t{data_size_};
  if (data_end == file_size_) return;
  const std::vector<std::byte> zeros(static_cast<std::size_t>(file_size_ - data_end));
  file_.write_all(zeros, data_end);
}

}  // namespace datatier::detail
