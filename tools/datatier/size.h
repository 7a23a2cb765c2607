// Byte sizes on the command line: parsing "1.5GiB" and printing "1.5 GiB".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace datatier::cli {

// Parses a byte count: digits, optionally with a decimal fraction, then an
// optional unit. Units (case-insensitive):
//   B or none                      1
//   KiB MiB GiB TiB, and K M G T   powers of 1024 (as coreutils' truncate/dd)
//   KB MB GB TB                    powers of 1000
// A fraction needs a unit and is rounded down to a whole byte ("1.5GiB").
// Throws: UsageError naming `text` for anything else (empty, negative, hex,
// spaces, unknown unit, a value over 2^64 - 1).
std::uint64_t parse_size(std::string_view text);

// A short human-readable size: "0 B", "4095 B", "8 KiB", "1.5 GiB" (binary
// units, one decimal where the value is not whole).
std::string format_size(std::uint64_t bytes);

}  // namespace datatier::cli
