// Checking a pool file without opening it as a pool: for tools and operators.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "datatier/block_index.h"
#include "datatier/header.h"
#include "datatier/progress.h"

namespace datatier {

struct VerifyOptions {
  // The data size to check the file against. Default: the size recorded in
  // the header, if it has the pool magic and records one, or else the one the
  // file size implies (file size - 4096). A recorded size that no file can
  // have is reported as errc::size_mismatch.
  std::optional<std::size_t> data_size;
  // The user version to expect. Default: whatever the header holds.
  std::optional<std::uint64_t> user_version;
  // Accept a file whose in-use mark is set, as FileOptions::accept_unclean.
  bool accept_unclean = false;
  // Threads to hash on; 0 = all cores. No thread outlives the call.
  unsigned threads = 0;
  // The data bytes read and hashed so far, and the total (see
  // datatier/progress.h). Returning false cancels: verify_file() throws
  // std::errc::operation_canceled. May be empty.
  Progress progress;
};

// What verify_file() found. ok() when every check passed.
struct VerifyReport {
  // Empty when intact; else the datatier::errc of the first failed check, in
  // the order open() checks (size, magic, version, data size, user version,
  // in-use mark, checksum), or errc::pool_in_use when a pool holds the file
  // (nothing was checked).
  std::error_code error;
  // What failed, with the expected and the found values.
  std::string message;
  std::uint64_t file_size = 0;
  // The data size the file was checked against.
  std::size_t data_size = 0;
  // The header, when the file is long enough to hold one.
  std::optional<Header> header;
  // The checksum computed over header and data, when the checks got that far.
  std::optional<Checksum> computed_checksum;
  // After errc::checksum_mismatch, when a valid block index lies beside the
  // file (datatier/block_index.h): the data ranges whose blocks differ from
  // what the index recorded, ascending. Empty otherwise. A range in the
  // first block may be damage to the header.
  std::vector<ByteRange> damaged;

  bool ok() const noexcept { return !error; }
};

// Runs every check open() runs on `path`, read-only, without changing it.
// The file is read with pread, never through a mapping, so a disk error or a
// file truncated meanwhile is an error, never a signal; memory use stays
// bounded (a 16 MiB window) whatever the file's size. It takes a shared lock
// for the length of the call: a file a pool object holds (whose owner is
// alive, and may be saving) is reported as errc::pool_in_use without being
// read, never judged corrupt or unclean; and no pool can open the file while
// it is being verified (such an open() gets errc::pool_in_use).
// A failed check is reported, not thrown.
// Throws: datatier::Error only when the file cannot be read at all (errno of
// open / read, e.g. std::errc::no_such_file_or_directory, permission_denied;
// errc::size_mismatch when it shrinks while being read).
VerifyReport verify_file(const std::filesystem::path& path, const VerifyOptions& options = {});

// Reads and decodes the header of `path` without checking it.
// Throws: datatier::Error — errno of open / read, or errc::size_mismatch for a
// file shorter than a header.
Header read_header(const std::filesystem::path& path);

}  // namespace datatier
