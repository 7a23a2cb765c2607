// Byte offsets of the header fields (docs/format.md, "Header").
#pragma once

#include <cstddef>

#include <span>

#include "datatier/header.h"

namespace datatier::detail {

// Writes the in-use sector of a header marked in use into `out`.
void encode_in_use_sector(std::span<std::byte, kHeaderSize> out) noexcept;


inline constexpr std::size_t kChecksumOffset = 0;
inline constexpr std::size_t kMagicOffset = 32;
inline constexpr std::size_t kVersionOffset = 40;
inline constexpr std::size_t kMonotonicSecondsOffset = 48;
inline constexpr std::size_t kUnixSecondsOffset = 52;
inline constexpr std::size_t kMonotonicNanosOffset = 56;
inline constexpr std::size_t kUnixNanosOffset = 64;
inline constexpr std::size_t kUserVersionOffset = 72;
inline constexpr std::size_t kOptionsOffset = 80;
inline constexpr std::size_t kDataSizeOffset = 88;
// The in-use sector (docs/format.md, "In-use mark"): a 512-byte sector of its
// own, so that marking a file in use never rewrites the sector holding the
// magic and the checksum.
inline constexpr std::size_t kInUseSectorOffset = 512;
inline constexpr std::size_t kInUseSectorSize = 512;

}  // namespace datatier::detail
