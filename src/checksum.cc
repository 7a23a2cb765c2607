// BLAKE3-based pool checksum.
#include "checksum.h"

#include <algorithm>
#include <array>

#include "header_layout.h"

namespace datatier::detail {

namespace {

std::array<std::byte, kHeaderSize> encoded(const Header& header) noexcept {
  std::array<std::byte, kHeaderSize> bytes;
  encode_header(header, bytes);
  return bytes;
}

}  // namespace

ChecksumHasher::ChecksumHasher(std::span<const std::byte, kHeaderSize> stored_header) noexcept
    : hasher_{} {
  std::array<std::byte, kHeaderSize> covered;
  std::copy(stored_header.begin(), stored_header.end(), covered.begin());
  std::fill_n(covered.begin() + kChecksumOffset, sizeof(Checksum), std::byte{0});
  // The in-use mark is set and cleared in place without rehashing the data,
  // so the checksum is defined over the header as it is when clean. The mark
  // is bit 0 of the little-endian options field, so it lives in its first byte.
  covered[kOptionsOffset] &= ~static_cast<std::byte>(kOptionInUse);
  blake3_hasher_init(&hasher_);
  blake3_hasher_update(&hasher_, covered.data(), covered.size());
}

ChecksumHasher::ChecksumHasher(const Header& header) noexcept
    : ChecksumHasher(encoded(header)) {}

void ChecksumHasher::update(std::span<const std::byte> data) noexcept {
  blake3_hasher_update(&hasher_, data.data(), data.size());
}

Checksum ChecksumHasher::finish() const noexcept {
  Checksum out;
  blake3_hasher_finalize(&hasher_, reinterpret_cast<std::uint8_t*>(out.data()), out.size());
  return out;
}

Checksum pool_checksum(const Header& header, std::span<const std::byte> data) noexcept {
  ChecksumHasher hasher(header);
  hasher.update(data);
  return hasher.finish();
}

std::string to_hex(const Checksum& checksum) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(checksum.size() * 2);
  for (std::byte b : checksum) {
    const auto v = std::to_integer<unsigned>(b);
    out.push_back(kDigits[v >> 4]);
    out.push_back(kDigits[v & 0xf]);
  }
  return out;
}

}  // namespace datatier::detail
