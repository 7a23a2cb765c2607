// A pool in memory whose snapshots are saved to, and restored from, a file.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "datatier/datapool.h"
#include "datatier/file_options.h"
#include "datatier/header.h"

namespace datatier {

// FileBackedMemory keeps its bytes in DRAM (a Memory) and saves a checked
// snapshot of them to a pool file on flush(); open() restores the last
// snapshot. The file layout is docs/format.md's, interchangeable with the
// reference implementation's for data sizes that are multiples of 4096.
//
// Saves are crash-safe. The pool keeps a spare file beside the pool file,
// `spare_path(path)` (the pool file's name with ".prev" appended), of the
// same size: flush() writes the new snapshot into the spare, makes it
// durable, and swaps the two names in one atomic step. So the disk space
// needed is twice the pool file's size, reserved when the pool is created or
// opened (not at save time), and after a save the spare holds the previous
// snapshot, which open() of the spare path with accept_unclean restores.
//
// While a FileBackedMemory holds a file, both files are locked (a second
// create() or open(), in any process, fails with errc::pool_in_use) and the
// pool file is marked in use; a flush() writes a clean snapshot. A later
// open() of a file whose owner ended without flushing reports
// errc::unclean_shutdown unless the caller accepts the last saved snapshot
// (FileOptions::accept_unclean).
//
// Not thread-safe: callers serialise flush() against writers. Move-only.
class FileBackedMemory final : public Datapool {
 public:
  // Creates `path`, which must not exist, and its spare, reserving the disk
  // space of both, and `data_size` zero bytes of memory. The new file is
  // marked in use until the first flush().
  // Requires: `path` non-empty; its directory exists.
  // Throws: datatier::Error — std::errc::file_exists, std::errc::invalid_argument
  // (empty path, or a size whose file would not fit in off_t), errno of a
  // failed system call (e.g. no_space_on_device, not_enough_memory),
  // errc::pool_in_use. On failure the files this call created are removed.
  static FileBackedMemory create(const std::filesystem::path& path, std::size_t data_size,
                                 std::uint64_t user_version, const FileOptions& options = {});

  // Reads the whole file into memory and verifies it. Checks, in this order,
  // and reports the first that fails: file size (errc::size_mismatch), magic
  // (errc::bad_magic), format version and option bits
  // (errc::incompatible_version), the data size recorded in the header
  // (errc::size_mismatch), user version (errc::user_version_mismatch), in-use
  // mark (errc::unclean_shutdown, unless options.accept_unclean), checksum
  // (errc::checksum_mismatch). Then marks the file in use and prepares the
  // spare file.
  // Throws: datatier::Error with that errc, or the errno of a failed system
  // call (std::errc::no_such_file_or_directory, permission_denied, ...).
  // A failed open() leaves the pool file as it was, with one exception: if
  // setting the in-use mark, the last step, fails (the write of the header's
  // options field or its fdatasync), the mark may already be in the file, in
  // the page cache and possibly on disk. Nothing else has changed, and the
  // mark is not covered by the checksum: the next open() reports
  // errc::unclean_shutdown, and with options.accept_unclean restores the same
  // snapshot. A failure at or after preparing the spare file may leave the
  // spare created or resized to the pool's size (its contents are never read).
  static FileBackedMemory open(const std::filesystem::path& path, std::size_t data_size,
                               std::uint64_t user_version, const FileOptions& options = {});

  FileBackedMemory(FileBackedMemory&& other) noexcept;
  FileBackedMemory& operator=(FileBackedMemory&& other) noexcept;
  FileBackedMemory(const FileBackedMemory&) = delete;
  FileBackedMemory& operator=(const FileBackedMemory&) = delete;
  // Frees the memory and unlocks the files. Does not flush.
  ~FileBackedMemory() override;

  std::span<std::byte> data() noexcept override;
  std::span<const std::byte> data() const noexcept override;

  // Saves the current bytes as a new snapshot: writes header and data to the
  // spare file, syncs it, swaps it with the pool file and syncs the directory.
  // When flush() returns the new snapshot is durable under `path`.
  // Crash inside flush(): `path` holds either the previous snapshot or the new
  // one, exactly, never a mixture. An error thrown before the rename leaves
  // the previous snapshot under `path`, untouched. The only errors after it
  // come from syncing the directory (or, without RENAME_EXCHANGE, from making
  // a new spare file): the new snapshot is then complete under `path`, but the
  // rename may not be durable yet; a later flush() retries what failed.
  // Another program that resizes the pool file or the spare while they are
  // held (the locks are advisory) does not affect the saves: each writes the
  // whole spare, after giving it back the pool's size, and swaps it in.
  // Throws: datatier::Error (errno of the write, sync or rename).
  void flush() override;

  // The header now in the pool file, decoded. Throws: datatier::Error on a
  // read error.
  Header header() const;

  const std::filesystem::path& path() const noexcept;

  // Where the spare file of a pool at `path` lives: `path` + ".prev".
  static std::filesystem::path spare_path(const std::filesystem::path& path);

 private:
  struct Impl;
  explicit FileBackedMemory(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datatier
