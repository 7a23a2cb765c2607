// Byte offsets of the header fields (docs/format.md, "Header").
#pragma once

#include <cstddef>

namespace datatier::detail {

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

}  // namespace datatier::detail
