// The pool checksum: BLAKE3 over the header (checksum zeroed, in-use mark
// cleared) followed by the data bytes.
#pragma once

#include <blake3.h>

#include <cstddef>
#include <span>
#include <string>

#include "datatier/header.h"

namespace datatier::detail {

// Computes a pool checksum incrementally, so data can be hashed as it is read
// or written. The result equals BLAKE3 of the concatenation of everything fed.
class ChecksumHasher {
 public:
  // Starts with the header as stored, its checksum field set to zero and its
  // kOptionInUse bit cleared (docs/format.md, "Checksum"). Every other byte,
  // padding included, is hashed as it is.
  explicit ChecksumHasher(std::span<const std::byte, kHeaderSize> stored_header) noexcept;
  // Starts with the encoding of `header`, for writing a new snapshot.
  explicit ChecksumHasher(const Header& header) noexcept;

  void update(std::span<const std::byte> data) noexcept;
  Checksum finish() const noexcept;

 private:
  blake3_hasher hasher_;
};

// The checksum of a pool with this header and data, in one call.
Checksum pool_checksum(const Header& header, std::span<const std::byte> data) noexcept;

// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Checksum& checksum);

}  // namespace datatier::detail
