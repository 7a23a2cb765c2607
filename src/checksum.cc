// The pool checksum's definition: which header bytes it covers.
#include "checksum.h"

#include <algorithm>

#include "header_layout.h"

namespace datatier::detail {

CoveredHeader covered_header(std::span<const std::byte, kHeaderSize> stored) noexcept {
  CoveredHeader covered;
  std::copy(stored.begin(), stored.end(), covered.begin());
  std::fill_n(covered.begin() + kChecksumOffset, sizeof(Checksum), std::byte{0});
  // The in-use mark is set and cleared in place without rehashing the data,
  // so the checksum is defined over the header as it is when clean: bit 0 of
  // the little-endian options field (the first byte) cleared and the in-use
  // sector zeroed. A clean file has both clear, so its checksum is the one
  // the reference computes over the header as stored.
  covered[kOptionsOffset] &= ~static_cast<std::byte>(kOptionInUse);
  std::fill_n(covered.begin() + kInUseSectorOffset, kInUseSectorSize, std::byte{0});
  return covered;
}

CoveredHeader covered_header(const Header& header) noexcept {
  CoveredHeader bytes;
  encode_header(header, bytes);
  return covered_header(bytes);
}

Checksum pool_checksum(const CoveredHeader& header, std::span<const std::byte> data,
                       const TreeHashOptions& options) {
  return tree_hash(header, data, options);
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
