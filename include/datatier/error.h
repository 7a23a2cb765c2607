// Errors thrown by datatier: a std::system_error that names the file involved.
#pragma once

#include "datatier/cxx_standard.h"

#include <filesystem>
#include <string>
#include <system_error>
#include <type_traits>

namespace datatier {

// Verdicts about a pool file's contents (as opposed to operating-system
// failures, which keep their errno in std::system_category()). Compare with
// `e.code() == datatier::errc::checksum_mismatch`.
enum class errc {
  // The file's size is not the size a pool of the requested data size has
  // (4096-byte header plus the data, rounded up to whole 4096-byte pages).
  size_mismatch = 1,
  // The header does not start with the magic bytes "PELIKAN!": not a pool.
  bad_magic,
  // The header's format version is not one this library reads, or the options
  // field has bits this library does not know.
  incompatible_version,
  // The header's user version differs from the one the caller expects.
  user_version_mismatch,
  // The stored checksum does not match the header and data: the file was
  // corrupted or only partly written.
  checksum_mismatch,
  // The file is marked as in use: the pool was opened or created and the
  // process ended before flush() cleared the mark, so the contents are not a
  // snapshot anyone saved.
  unclean_shutdown,
  // Another pool object, in this process or another, holds the file. The
  // message names the process holding its lock where the kernel tells it
  // (/proc/locks).
  pool_in_use,
  // A name the pool saves under no longer names the file the pool holds:
  // another program removed, renamed or replaced its pool file or spare
  // file. The save stopped before it swapped anything.
  file_replaced,
};

// The category of datatier::errc values; its name() is "datatier".
const std::error_category& error_category() noexcept;

std::error_code make_error_code(errc e) noexcept;

// Every failure datatier reports. code() is either an errno value in
// std::system_category() (so it compares equal to std::errc values such as
// std::errc::no_such_file_or_directory) or a datatier::errc. what() says what
// was being done, to which file, and what was expected and found.
class Error : public std::system_error {
 public:
  Error(std::error_code code, std::filesystem::path path, const std::string& message);

  // The file the failure concerns; empty when none does.
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace datatier

template <>
struct std::is_error_code_enum<datatier::errc> : std::true_type {};
