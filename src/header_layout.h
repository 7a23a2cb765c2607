// Byte offsets of the header fields (docs/format.md, "Header").
#pragma once

#include <cstddef>

#include <span>

#include "datatier/header.h"

namespace datatier::detail {

// Writes the in-use sector of a header marked in use into `out`.
void encode_in_use_sector(std::span<std::byte, kHeaderSize> out) noexcept;

// Header bytes as read from a file: where the first sector lacks the magic
// (a header write torn by a power cut) and the header-copy sector holds it,
// puts the copy in its place.
void recover_first_sector(std::span<std::byte, kHeaderSize> bytes) noexcept;


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
// The header-copy sector: where a save that rewrites a header in place first
// puts a copy of the header's first sector, synced, so that a power cut that
// tears the header write leaves one of the two whole. Zero in a cleanly
// closed file; a copy there (with the magic) is not covered by the checksum.
inline constexpr std::size_t kHeaderCopyOffset = 1024;
inline constexpr std::size_t kSectorSize = 512;

}  // namespace datatier::detail
