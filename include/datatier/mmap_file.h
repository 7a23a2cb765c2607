// A pool whose bytes live in a file mapped MAP_SHARED, behind a 4 KiB header.
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

// MmapFile keeps its bytes in a shared mapping of a pool file (best on tmpfs
// or a DAX file system): writes to data() go to the file's pages directly.
// The file layout is docs/format.md's; files are interchangeable with the
// reference implementation's for data sizes that are multiples of 4096.
//
// While an MmapFile holds a file, the file is locked (a second create() or
// open() of it, in any process, fails with errc::pool_in_use) and marked in
// use; flush() clears the mark. So after a crash, open() finds either the
// last flushed contents (when the crash came after a flush with no writes
// since), or reports errc::unclean_shutdown (when the pool was in use), or
// errc::checksum_mismatch (bytes changed after the last flush) — never
// silently wrong data.
//
// Not thread-safe: callers serialise flush() against writers. Move-only.
class MmapFile final : public Datapool {
 public:
  // Creates `path`, which must not exist, with room for `data_size` bytes
  // (all zero) after the header, reserving the disk space up front, and maps
  // it (on transparent huge pages where the file system allows), its pages
  // read in on options.threads threads: present but clean, so nothing is
  // written back before the caller writes. The new file is marked in use
  // until the first flush().
  // Requires: `path` non-empty; its directory exists.
  // Throws: datatier::Error — std::errc::file_exists, std::errc::invalid_argument
  // (empty path, or a size whose file would not fit in off_t), errno of a failed
  // system call (e.g. no_space_on_device), errc::pool_in_use.
  // On failure nothing is left behind: a file this call created is removed.
  static MmapFile create(const std::filesystem::path& path, std::size_t data_size,
                         std::uint64_t user_version, const FileOptions& options = {});

  // Opens a pool written by create() + flush(), here or by the reference.
  // Checks, in this order, and reports the first that fails: file size
  // (errc::size_mismatch), magic (errc::bad_magic), format version and option
  // bits (errc::incompatible_version), the data size recorded in the header
  // (errc::size_mismatch), user version (errc::user_version_mismatch), in-use
  // mark (errc::unclean_shutdown, unless options.accept_unclean), checksum
  // (errc::checksum_mismatch). Then marks the file in use.
  // Throws: datatier::Error with that errc, or the errno of a failed system
  // call (std::errc::no_such_file_or_directory, permission_denied, ...).
  // A failed open() leaves the file as it was, with one exception: if setting
  // the in-use mark, the last step, fails (the write of the header's options
  // field or its fdatasync), the mark may already be in the file, in the page
  // cache and possibly on disk. Nothing else has changed, and the mark is not
  // covered by the checksum: the next open() reports errc::unclean_shutdown,
  // and with options.accept_unclean opens the same contents.
  static MmapFile open(const std::filesystem::path& path, std::size_t data_size,
                       std::uint64_t user_version, const FileOptions& options = {});

  MmapFile(MmapFile&& other) noexcept;
  MmapFile& operator=(MmapFile&& other) noexcept;
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;
  // Unmaps and unlocks. Does not flush: bytes written since the last flush()
  // stay in the file, which then reports unclean shutdown or checksum mismatch.
  ~MmapFile() override;

  std::span<std::byte> data() noexcept override;
  std::span<const std::byte> data() const noexcept override;

  // Writes the data back to the file and waits for it, then writes a fresh
  // header (timestamps now, user version, data size, checksum over header and
  // data, in-use mark cleared) and syncs it. When flush() returns, a clean
  // open() finds exactly the current bytes.
  // Crash inside flush(): the file still carries its in-use mark (or, if the
  // header write was reached, a header whose checksum covers the new data), so
  // open() reports errc::unclean_shutdown or serves exactly the flushed bytes.
  // Another program that truncates or extends the file while it is held (the
  // lock is advisory) makes flush() fail with errc::size_mismatch before it
  // reads the data or writes anything, so the file keeps its last header; an
  // access to data() beyond a new end of file raises SIGBUS, as for any
  // mapping.
  // Throws: datatier::Error — errc::size_mismatch (the file was resized), the
  // errno of fstat / msync / pwrite / fdatasync.
  void flush() override;

  // The header now in the file, decoded. Throws: datatier::Error on a read error.
  Header header() const;

  const std::filesystem::path& path() const noexcept;

 private:
  struct Impl;
  explicit MmapFile(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datatier
