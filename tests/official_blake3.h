// The official BLAKE3 C implementation, one thread, one stream: what every
// checksum the library computes must equal.
#pragma once

#include <blake3.h>

#include <cstdint>
#include <span>

#include "datatier/header.h"

namespace datatier::testing {

inline Checksum official_blake3(std::span<const std::byte> header,
                                std::span<const std::byte> data) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update(&hasher, header.data(), header.size());
  blake3_hasher_update(&hasher, data.data(), data.size());
  Checksum out;
  blake3_hasher_finalize(&hasher, reinterpret_cast<std::uint8_t*>(out.data()), out.size());
  return out;
}

}  // namespace datatier::testing
