// The checks that decide whether a pool file may be served, in the order
// open() applies them: file size, magic, format version, recorded data size,
// user version, in-use mark, checksum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "datatier/header.h"

namespace datatier::detail {

// The outcome of one check: empty when it passed, else the datatier::errc and
// a message saying what was expected and what was found.
struct Verdict {
  std::error_code code;
  std::string message;

  explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

// What a caller expects of a pool file.
struct Expectation {
  std::size_t data_size = 0;
  std::uint64_t user_version = 0;
  bool accept_unclean = false;  // serve a file whose in-use mark is set
};

// The file's size against the size a pool of expected.data_size has.
Verdict check_file_size(std::uint64_t file_size, std::size_t data_size);

// Magic, format version and option bits, recorded data size, user version and
// in-use mark, in that order.
Verdict check_header(const Header& header, const Expectation& expected);

// The stored checksum against the one computed over header and data.
Verdict check_checksum(const Header& header, const Checksum& computed);

// Throws datatier::Error for a failed verdict, naming `path`.
void throw_if_failed(const Verdict& verdict, const std::filesystem::path& path);

}  // namespace datatier::detail
