// The pool checksum: BLAKE3 over the header (checksum zeroed, in-use mark
// cleared) followed by the data bytes.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "datatier/header.h"
#include "tree_checksum.h"

namespace datatier::detail {

// The header bytes the checksum covers (docs/format.md, "Checksum").
using CoveredHeader = std::array<std::byte, kHeaderSize>;

// The header as stored, its checksum field set to zero and its kOptionInUse
// bit cleared. Every other byte, padding included, stays as it is.
CoveredHeader covered_header(std::span<const std::byte, kHeaderSize> stored) noexcept;
// The same for a header about to be written.
CoveredHeader covered_header(const Header& header) noexcept;

// The checksum of a pool with this covered header and data, hashed on
// options.threads threads (bit-identical for every thread count).
Checksum pool_checksum(const CoveredHeader& header, std::span<const std::byte> data,
                       const TreeHashOptions& options = {});

// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Checksum& checksum);

}  // namespace datatier::detail
