// A pool file held by a pool object: its locked descriptor, its layout and the
// header operations both file pools share (create, open-and-check, in-use mark,
// writing a fresh header).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "bulk_io.h"
#include "datatier/fallback.h"
#include "datatier/file_options.h"
#include "datatier/header.h"
#include "platform/directory.h"
#include "platform/file.h"
#include "pool_check.h"

namespace datatier::detail {

// Files are named by an entry `name` of a directory the pool holds open, so
// that a later chdir, or a path whose links change, never redirects a save.
class PoolFile {
 public:
  // Creates `name` in `dir` (which must not have it; a symbolic link there is
  // never followed) with mode `mode`, locks it, reserves its full size,
  // writes a header marked in use with no valid checksum, so the file is
  // never mistaken for a saved pool until a save, and makes file and entry
  // durable. If anything fails, the new file is removed again.
  // Throws: datatier::Error (file_exists, invalid_argument, errc::pool_in_use, ...).
  static PoolFile create(const platform::Directory& dir, const std::string& name,
                         std::size_t data_size, std::uint64_t user_version, mode_t mode);

  // Opens (never through a symbolic link) and locks `name` in `dir` and runs
  // every check but the checksum (file size, magic, version, options, data
  // size, user version, in-use mark). The header read is in header(); the
  // caller computes the checksum. A failed check is thrown, or, with
  // `failed` given, stored there and the file returned open and locked.
  // With `read_only`, the file is opened read-only and locked shared: other
  // read-only opens may hold it too, a writer may not.
  static PoolFile open(const platform::Directory& dir, const std::string& name,
                       const Expectation& expected, Verdict* failed = nullptr,
                       bool read_only = false);

  // Opens `name` in `dir` as the spare file of `pool`, locks it, gives it
  // the pool file's size, permission bits and (for a superuser) owner, and,
  // if options.direct_io, enables direct I/O (enable_direct_io(), reporting
  // to options.on_fallback). Its contents are not read. Whatever
  // the name holds that must not be written through (a symbolic link, a file
  // with other hard links, a FIFO or device, another user's file) is removed
  // and a new file made in its place; a directory there is an error (EISDIR).
  // Sets `*created` (when given) to whether this call made the file; if the
  // call fails, a file it made is removed again.
  static PoolFile open_spare(const platform::Directory& dir, const std::string& name,
                             const PoolFile& pool, const FileOptions& options,
                             bool* created = nullptr);

  // Removes the entry `name` of `dir`, then makes a new spare there as
  // open_spare() does: for a spare whose contents can no longer be trusted.
  static PoolFile replace_spare(const platform::Directory& dir, const std::string& name,
                                const PoolFile& pool, const FileOptions& options);

  // The entry `name` of a directory as the already open, locked `file`
  // (received from the process that held the pool before), of a pool of
  // `data_size` bytes and `user_version`, `file_size` bytes long, whose
  // header is `header` (as the file holds it; for a spare, whose header a
  // save writes before anything reads it, nullptr). Reads nothing.
  static PoolFile adopt(platform::File file, std::string name, std::size_t data_size,
                        std::uint64_t user_version, std::uint64_t file_size,
                        const std::array<std::byte, kHeaderSize>* header);

  const platform::File& file() const noexcept { return file_; }
  const std::string& name() const noexcept { return name_; }

  // Whether the entry name() of `dir` is still the file held: not removed,
  // renamed or replaced since.
  bool named_by(const platform::Directory& dir) const;

  // Records that the file held is now the entry `name` of `dir`.
  void renamed(const platform::Directory& dir, std::string name);

  // Opens a direct I/O descriptor beside the buffered one, where the file
  // system allows it (see data_file()); where it does not, tells
  // `on_fallback` (FallbackKind::buffered_io).
  void enable_direct_io(const FallbackHandler& on_fallback);
  // The descriptors for bulk data transfers.
  DataFile data_file() const noexcept { return {&file_, direct_ ? &*direct_ : nullptr}; }
  const std::filesystem::path& path() const noexcept { return file_.path(); }
  std::size_t data_size() const noexcept { return data_size_; }
  std::uint64_t user_version() const noexcept { return user_version_; }
  std::uint64_t file_size() const noexcept { return file_size_; }

  // The header as read or last written by this object, decoded and as bytes.
  const Header& header() const noexcept { return header_; }
  std::span<const std::byte, kHeaderSize> header_bytes() const noexcept { return header_bytes_; }

  // Reads and decodes the header now in the file.
  Header read_header() const;

  // Reads the header now in the file into header() and header_bytes().
  void load_header();

  // A header for a snapshot taken now: current clocks, this pool's user
  // version and data size, no in-use mark, checksum not yet set.
  Header fresh_header() const;

  // Writes `header` at offset 0 and remembers it. Does not sync. For a file
  // whose header is not yet durable anywhere else (a spare, a new file).
  void write_header(const Header& header);

  // Replaces the header of a file whose only copy of a snapshot's header is
  // this one (an MmapFile's), durably and so that a power cut at any moment
  // leaves a header with its magic: a copy of the new first sector goes to
  // the header-copy sector and is synced, then every other sector of the
  // header, synced. A torn first sector is then read from the copy
  // (docs/format.md, "Header copy").
  void rewrite_header(const Header& header);

  // Zeroes the header-copy sector and syncs, so that a cleanly closed file
  // is byte for byte what the reference implementation writes.
  void clear_header_copy();

  // Sets the in-use mark in the file's header and makes it durable, leaving
  // the rest of the header (and so the last snapshot's checksum) unchanged.
  void mark_in_use();

  // Exchanges the open files (descriptors, locks and headers) of this and
  // `other`, each keeping its name: what follows renaming the two files into
  // each other's place.
  void swap_files(PoolFile& other) noexcept;

  // Writes zeros from the end of the data to the end of the file, so the pad
  // of a partial last page never holds stale bytes.
  void zero_tail();

 private:
  PoolFile(platform::File file, std::string name, std::size_t data_size, std::uint64_t user_version,
           std::uint64_t file_size) noexcept
      : file_(std::move(file)),
        name_(std::move(name)),
        data_size_(data_size),
        user_version_(user_version),
        file_size_(file_size) {}

  // Gives a spare the pool file's mode and, for a superuser, its owner.
  void match_owner_and_mode(const platform::FileStatus& pool);

  platform::File file_;
  std::string name_;
  std::optional<platform::File> direct_;
  std::size_t data_size_;
  std::uint64_t user_version_;
  std::uint64_t file_size_;
  Header header_{};
  std::array<std::byte, kHeaderSize> header_bytes_{};
};

// Removes a file that the current call created unless the call completes
// (disarm()). Removal failures are ignored: the original error is reported.
class RemoveOnFailure {
 public:
  RemoveOnFailure(const platform::Directory& dir, std::string name, bool armed = true)
      : dir_(dir), name_(std::move(name)), armed_(armed) {}
  RemoveOnFailure(const RemoveOnFailure&) = delete;
  RemoveOnFailure& operator=(const RemoveOnFailure&) = delete;
  ~RemoveOnFailure();
  void disarm() noexcept { armed_ = false; }

 private:
  const platform::Directory& dir_;
  std::string name_;
  bool armed_;
};

// The directory of a pool path and the pool file's name in it, the path
// resolved once (platform::resolve_path) and the directory held open.
struct PoolLocation {
  platform::Directory dir;
  std::string name;

  static PoolLocation of(const std::filesystem::path& path);
  std::filesystem::path path() const { return dir.entry_path(name); }
};

// The name of the spare file of the pool file `name`: name + ".prev".
std::string spare_name(const std::string& name);

// Puts the spare file of the pool file `name` of `dir` under `name`, gives
// the file that was there the first free name of `name`.damaged,
// `name`.damaged.1, ..., and makes the directory durable. Returns that name.
// The names are exchanged first where the file system can, so a complete
// file is under `name` at every moment; elsewhere there is a moment without
// one, which `on_fallback` hears of (FallbackKind::no_rename_exchange).
// Throws: datatier::Error (errno of the renames and the sync;
// std::errc::file_exists when every .damaged name is taken).
std::string put_spare_in_place(const platform::Directory& dir, const std::string& name,
                               const FallbackHandler& on_fallback);

// Tells `on_fallback` that the file system of `dir` could not exchange the
// names `a` and `b` (FallbackKind::no_rename_exchange), and that they were
// renamed instead.
void report_no_exchange(const FallbackHandler& on_fallback, const platform::Directory& dir,
                        const std::string& a, const std::string& b);

// The value of Header::data_size for a pool of `data_size` bytes: 0 for whole
// pages, where the file size implies the data size and the header stays byte
// for byte the reference implementation's; the size itself otherwise.
std::uint64_t recorded_data_size(std::size_t data_size) noexcept;

// Takes the exclusive lock a pool object holds its files by, or throws
// errc::pool_in_use with the message `what`, the processes holding the
// file's lock where the kernel names them, and `then` (what it means for
// the call, or "").
void lock_or_throw(const platform::File& file, const std::string& what, const std::string& then);

// The processes that hold locks on `file`, as the kernel lists them, for an
// errc::pool_in_use message: " (locked by process 1234)", " (locked by this
// process, 1234)", " (locked by processes 12, 34)"; "" where it does not say.
std::string lock_holders_text(const platform::File& file);

// Throws datatier::Error (std::errc::bad_file_descriptor) for a call on a
// moved-from pool that has no file to answer from.
[[noreturn]] void throw_moved_from();

// The permission bits of FileOptions::create_mode.
mode_t creation_mode(const FileOptions& options) noexcept;

// The file size for `data_size`, or std::errc::invalid_argument naming `path`.
std::uint64_t checked_file_size(const std::filesystem::path& path, std::size_t data_size);

// Throws errc::file_replaced unless the entries of `pool` and of `spare` in
// `dir` still name the files they hold: checked right before the two are
// swapped, so that a save never puts another program's file under the
// pool's name.
void check_names_before_swap(const platform::Directory& dir, const PoolFile& pool,
                             const PoolFile& spare);

// Throws std::errc::invalid_argument naming `path` when `options` ask for a
// read-only pool: create() and open_or_create() would write.
void refuse_read_only_create(const std::filesystem::path& path, const FileOptions& options);

// Throws std::errc::operation_not_permitted naming `path`: a save of a pool
// opened with FileOptions::read_only.
[[noreturn]] void throw_read_only(const std::filesystem::path& path);

// Throws std::errc::operation_not_permitted when the calling process is not
// `owner`, the one that opened the pool: a forked child shares the parent's
// descriptors and locks, and a save from it would race the parent's.
void check_owner_process(int owner, const std::filesystem::path& path);

}  // namespace datatier::detail
