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

#include "bulk_io.h"
#include "datatier/file_options.h"
#include "datatier/header.h"
#include "platform/file.h"
#include "pool_check.h"

namespace datatier::detail {

class PoolFile {
 public:
  // Creates `path` (which must not exist) with mode `mode`, locks it, reserves
  // its full size and writes a header marked in use with no valid checksum, so
  // the file is never mistaken for a saved pool until flush(). If anything
  // fails, the new file is removed again.
  // Throws: datatier::Error (file_exists, invalid_argument, errc::pool_in_use, ...).
  static PoolFile create(const std::filesystem::path& path, std::size_t data_size,
                         std::uint64_t user_version, mode_t mode);

  // Opens and locks an existing `path` and runs every check but the checksum
  // (file size, magic, version, options, data size, user version, in-use mark).
  // The header read is in header(); the caller computes the checksum.
  static PoolFile open(const std::filesystem::path& path, const Expectation& expected);

  // Opens `path` as this pool's spare file, creating it if needed, locks it,
  // sizes it like the pool and, if `direct_io`, enables direct I/O. Its
  // contents are not read. Sets `*created` (when given) to whether this call
  // made the file; if the call fails, a file it made is removed again.
  static PoolFile open_spare(const std::filesystem::path& path, std::size_t data_size,
                             std::uint64_t user_version, mode_t mode, bool direct_io,
                             bool* created = nullptr);

  const platform::File& file() const noexcept { return file_; }

  // Opens a direct I/O descriptor beside the buffered one, where the file
  // system allows it (see data_file()).
  void enable_direct_io();
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

  // Writes `header` at offset 0 and remembers it. Does not sync.
  void write_header(const Header& header);

  // Sets the in-use mark in the file's header and makes it durable, leaving
  // the rest of the header (and so the last snapshot's checksum) unchanged.
  void mark_in_use();

  // Exchanges the open files (descriptors, locks and headers) of this and
  // `other`, each keeping its path: what follows renaming the two files into
  // each other's place.
  void swap_files(PoolFile& other) noexcept;

  // Writes zeros from the end of the data to the end of the file, so the pad
  // of a partial last page never holds stale bytes.
  void zero_tail();

 private:
  PoolFile(platform::File file, std::size_t data_size, std::uint64_t user_version,
           std::uint64_t file_size) noexcept
      : file_(std::move(file)),
        data_size_(data_size),
        user_version_(user_version),
        file_size_(file_size) {}

  platform::File file_;
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
  explicit RemoveOnFailure(std::filesystem::path path, bool armed = true)
      : path_(std::move(path)), armed_(armed) {}
  RemoveOnFailure(const RemoveOnFailure&) = delete;
  RemoveOnFailure& operator=(const RemoveOnFailure&) = delete;
  ~RemoveOnFailure();
  void disarm() noexcept { armed_ = false; }

 private:
  std::filesystem::path path_;
  bool armed_;
};

// The value of Header::data_size for a pool of `data_size` bytes: 0 for whole
// pages, where the file size implies the data size and the header stays byte
// for byte the reference implementation's; the size itself otherwise.
std::uint64_t recorded_data_size(std::size_t data_size) noexcept;

// Throws datatier::Error (std::errc::bad_file_descriptor) for a call on a
// moved-from pool that has no file to answer from.
[[noreturn]] void throw_moved_from();

// The permission bits of FileOptions::create_mode.
mode_t creation_mode(const FileOptions& options) noexcept;

// The file size for `data_size`, or std::errc::invalid_argument naming `path`.
std::uint64_t checked_file_size(const std::filesystem::path& path, std::size_t data_size);

}  // namespace datatier::detail
