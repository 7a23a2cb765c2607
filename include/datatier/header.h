// The 4096-byte pool file header: its decoded form and its byte encoding.
#pragma once

#include "datatier/cxx_standard.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace datatier {

// Size of the header at the start of every pool file; the data follows it.
inline constexpr std::size_t kHeaderSize = 4096;

// The on-disk format version this library writes and reads. It changes only
// when a file written by this version would be misread by an older reader
// (docs/format.md, "Format version").
inline constexpr std::uint64_t kFormatVersion = 0;

// The magic bytes at offset 32: "PELIKAN!".
inline constexpr std::array<std::byte, 8> kMagic = {std::byte{'P'}, std::byte{'E'}, std::byte{'L'},
                                                    std::byte{'I'}, std::byte{'K'}, std::byte{'A'},
                                                    std::byte{'N'}, std::byte{'!'}};

// Bits of Header::options.
// kOptionInUse: set while a pool object holds the file and cleared by flush();
// a file found with it set was not cleanly saved (errc::unclean_shutdown).
inline constexpr std::uint64_t kOptionInUse = 1;
// Every option bit this library understands.
inline constexpr std::uint64_t kKnownOptions = kOptionInUse;

using Checksum = std::array<std::byte, 32>;

// The application's part of the header: bytes [kUserAreaOffset, 4096), for
// what a program wants saved with its pool beside the data (root offsets, a
// schema version, a count). Saved by every flush and covered by the
// checksum like every header byte; datatier never interprets it.
inline constexpr std::size_t kUserAreaOffset = 2048;
inline constexpr std::size_t kUserAreaSize = kHeaderSize - kUserAreaOffset;
using UserArea = std::array<std::byte, kUserAreaSize>;

// A decoded header: plain values, never a view into a file or a buffer.
// The layout on disk is in docs/format.md; all integers are little-endian.
struct Header {
  Checksum checksum{};                      // offset 0: BLAKE3, see docs/format.md
  std::array<std::byte, 8> magic = kMagic;  // offset 32
  std::uint64_t version = kFormatVersion;   // offset 40
  std::uint32_t time_monotonic_s = 0;       // offset 48: CLOCK_MONOTONIC_COARSE seconds
  std::uint32_t time_unix_s = 0;            // offset 52: CLOCK_REALTIME_COARSE seconds
  std::uint64_t time_monotonic_ns = 0;      // offset 56: CLOCK_MONOTONIC nanoseconds
  std::uint64_t time_unix_ns = 0;           // offset 64: CLOCK_REALTIME nanoseconds
  std::uint64_t user_version = 0;           // offset 72
  std::uint64_t options = 0;                // offset 80: kOption* bits
  // offset 88: the data size, recorded only when it is not a multiple of 4096
  // (the file size cannot tell it then); 0 otherwise, as the reference
  // implementation always writes, where the data size is file size - 4096.
  std::uint64_t data_size = 0;
  // Bytes 96..2048 are padding, written as zero.
  UserArea user_area{};  // offset 2048..4096: the application's, as stored

  bool operator==(const Header&) const = default;
};

// Writes `header` into `out` field by field, with zero padding.
void encode_header(const Header& header, std::span<std::byte, kHeaderSize> out) noexcept;

// Reads the fields of a header from `in`. Performs no checks: any 4096 bytes
// decode; validation is the job of the pools' open() and of verify_file().
Header decode_header(std::span<const std::byte, kHeaderSize> in) noexcept;

// The size of the file holding `data_size` bytes of data: the header plus the
// data, rounded up to a multiple of 4096. std::nullopt when that size does not
// fit in a signed 64-bit file offset.
std::optional<std::uint64_t> pool_file_size(std::size_t data_size) noexcept;

}  // namespace datatier
