// A pool whose bytes live in a file mapped MAP_SHARED, behind a 4 KiB header.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <system_error>

#include "datatier/datapool.h"
#include "datatier/file_options.h"
#include "datatier/header.h"
#include "datatier/opened.h"

namespace datatier {

// MmapFile keeps its bytes in a shared mapping of a pool file (best on tmpfs
// or a DAX file system): writes to data() go to the file's pages directly.
// The file layout is docs/format.md's; files are interchangeable with the
// reference implementation's for data sizes that are multiples of 4096.
//
// While an MmapFile holds a file, the file is locked (a second create() or
// open() of it, in any process, fails with errc::pool_in_use) and marked in
// use, and the mark stays set in the header every flush() writes (the
// checksum does not cover it); only close() clears it. So after a crash or a
// destructor without close(), open() reports errc::unclean_shutdown, and
// with FileOptions::accept_unclean serves the last flushed contents if
// nothing was written since, else reports errc::checksum_mismatch — never
// silently wrong data. After close(), the file opens cleanly here and in the
// reference implementation.
//
// The path given to create() or open() is resolved once (symbolic links
// followed, a relative path made absolute); path() is the resolved path.
//
// Thread safety: data() may be used from any number of threads. flush() and
// close() may be called from any thread; concurrent calls are serialised,
// and callers keep writers away from data() for the length of a save. Moves
// and destruction must not run concurrently with anything else. Only the
// process that created or opened the pool may save it. Move-only.
class MmapFile final : public Datapool {
 public:
  // Creates `path`, which must not exist (a symbolic link there is followed),
  // with room for `data_size` bytes (all zero) after the header, reserving
  // the disk space up front, and maps
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

  // Opens a pool written by create() + close(), here or by the reference.
  // Checks, in this order, and reports the first that fails: file size
  // (errc::size_mismatch), magic (errc::bad_magic), format version and option
  // bits (errc::incompatible_version), the data size recorded in the header
  // (errc::size_mismatch), user version (errc::user_version_mismatch), in-use
  // mark (errc::unclean_shutdown, unless options.accept_unclean), checksum
  // (errc::checksum_mismatch). The checksum is computed through the mapping,
  // after the file's blocks are reserved (a sparse file on a full tmpfs is
  // no_space_on_device, not a SIGBUS). Then marks the file in use.
  // Throws: datatier::Error with that errc, or the errno of a failed system
  // call (std::errc::no_such_file_or_directory, permission_denied,
  // no_space_on_device, ...). A disk that fails to read a page of the
  // mapping raises SIGBUS, as for any mapping.
  // A failed open() leaves the file as it was, with one exception: if setting
  // the in-use mark, the last step, fails (the write of the header's options
  // field or its fdatasync), the mark may already be in the file, in the page
  // cache and possibly on disk. Nothing else has changed, and the mark is not
  // covered by the checksum: the next open() reports errc::unclean_shutdown,
  // and with options.accept_unclean opens the same contents.
  static MmapFile open(const std::filesystem::path& path, std::size_t data_size,
                       std::uint64_t user_version, const FileOptions& options = {});

  // Opens `path` if it holds a pool that passes every check of open();
  // creates it when there is no file; when the file fails a format check
  // (size, magic, version, user version, in-use mark, checksum), removes it
  // and creates a new pool in its place. outcome says which, and reason why
  // the file was not opened. Operating-system errors, errc::pool_in_use and
  // errc::file_replaced are thrown, never replaced.
  // Throws: datatier::Error, as open() and create().
  static Opened<MmapFile> open_or_create(const std::filesystem::path& path, std::size_t data_size,
                                         std::uint64_t user_version,
                                         const FileOptions& options = {});

  // The same calls without exceptions, in the style of std::filesystem:
  // on failure `ec` holds what the throwing form would have thrown (the
  // datatier::errc or errno; std::errc::not_enough_memory for a failed
  // allocation) and the result is empty; on success `ec` is cleared. Never
  // throw, so a server built with -fno-exceptions can call them.
  static std::optional<MmapFile> create(const std::filesystem::path& path, std::size_t data_size,
                                        std::uint64_t user_version, const FileOptions& options,
                                        std::error_code& ec) noexcept;
  static std::optional<MmapFile> open(const std::filesystem::path& path, std::size_t data_size,
                                      std::uint64_t user_version, const FileOptions& options,
                                      std::error_code& ec) noexcept;
  static std::optional<Opened<MmapFile>> open_or_create(const std::filesystem::path& path,
                                                        std::size_t data_size,
                                                        std::uint64_t user_version,
                                                        const FileOptions& options,
                                                        std::error_code& ec) noexcept;
  void flush(std::error_code& ec) noexcept;
  void close(std::error_code& ec) noexcept;

  MmapFile(MmapFile&& other) noexcept;
  MmapFile& operator=(MmapFile&& other) noexcept;
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;
  // Unmaps and unlocks. Does not flush and leaves the in-use mark: the next
  // open() reports errc::unclean_shutdown (see the class comment).
  ~MmapFile() override;

  std::span<std::byte> data() noexcept override;
  std::span<const std::byte> data() const noexcept override;

  // What the pool's shared mapping of the file got: PageSize::transparent
  // (huge pages where the file system gives them, as tmpfs with huge=
  // does), page_bytes the base page size, NumaPolicy::local, not locked,
  // and the threads that faulted the pages in (create()) or were asked to
  // read them in (open(), by hashing them). huge_bytes is measured on each call, as for
  // Memory::placement(). A moved-from pool reports defaults.
  Placement placement() const noexcept;

  // Writes the data back to the file and waits for it, then writes a fresh
  // header (timestamps now, user version, data size, checksum over header and
  // data, in-use mark still set) and syncs it. When flush() returns, open()
  // with accept_unclean finds exactly the current bytes, until they change.
  // Only dirty pages are written back; the checksum hashes every block of
  // the pool again, or, with FileOptions::changes = Changes::marked, only
  // the blocks marked with mark_dirty() since the last flush() or open()
  // (the values of the others kept in memory from then): bytes written
  // without a mark are written back but may then not match the checksum,
  // which open() reports as errc::checksum_mismatch.
  // Crash inside flush(): the file carries the in-use mark, so open()
  // reports errc::unclean_shutdown; with accept_unclean it serves exactly
  // the flushed bytes (if the header write was reached) or reports
  // errc::checksum_mismatch. A power cut likewise, write-back of the data
  // being unordered: never bytes other than a flushed snapshot's.
  // Errors are sticky: once writing back, writing the header or syncing has
  // failed, the page cache may have dropped bytes it could not write, so
  // every later flush() and close() throws that first error again; open the
  // file anew (after the owner ended) to go on.
  // Another program that truncates or extends the file while it is held (the
  // lock is advisory) makes flush() fail with errc::size_mismatch, and one
  // that removes, renames or replaces it with errc::file_replaced, before it
  // reads the data or writes anything; an access to data() beyond a new end
  // of file raises SIGBUS, as for any mapping.
  // Throws: datatier::Error — errc::size_mismatch, errc::file_replaced, the
  // errno of fstat / msync / pwrite / fdatasync,
  // std::errc::operation_not_permitted in a process other than the one that
  // opened the pool, std::errc::bad_file_descriptor on a moved-from pool.
  void flush() override;

  // Marks data bytes [offset, offset + length) as written since the last
  // flush(), for FileOptions::changes = Changes::marked (see Datapool).
  void mark_dirty(std::size_t offset, std::size_t length) noexcept override;

  // The clean shutdown: flush() with the in-use mark cleared, then release
  // the pool (mapping, file, lock), leaving it as a moved-from pool. On an
  // error the pool is still held.
  // Throws: as flush().
  void close() override;

  // The application's 2 KiB of the header (kUserAreaSize bytes, see
  // header.h): as the last saved snapshot had it after open(), zeros after
  // create(). Written into the header by every flush() and close(), covered
  // by the checksum; changes reach the file only through them. Valid until
  // the pool is moved from, closed or destroyed; empty for a moved-from pool.
  // Thread safety: as data().
  std::span<std::byte> user_area() noexcept;
  std::span<const std::byte> user_area() const noexcept;

  // The header now in the file, decoded. Throws: datatier::Error on a read error.
  Header header() const;

  const std::filesystem::path& path() const noexcept;

 private:
  struct Impl;
  explicit MmapFile(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datatier
