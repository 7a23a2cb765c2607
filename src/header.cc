// Field-by-field little-endian encoding of the pool file header.
#include "datatier/header.h"

#include <algorithm>
#include <limits>

#include "header_layout.h"
#include "little_endian.h"

namespace datatier {
namespace {

using namespace detail;

}  // namespace

void detail::encode_in_use_sector(std::span<std::byte, kHeaderSize> out) noexcept {
  // Not zero anywhere, and recognisable in a dump.
  static constexpr char kPattern[] = "datatier: in use. ";
  const auto sector = out.subspan(kInUseSectorOffset, kInUseSectorSize);
  for (std::size_t i = 0; i < sector.size(); ++i) {
    sector[i] = static_cast<std::byte>(kPattern[i % (sizeof kPattern - 1)]);
  }
}

void detail::recover_first_sector(std::span<std::byte, kHeaderSize> bytes) noexcept {
  const auto has_magic = [&](std::size_t sector) {
    return std::equal(kMagic.begin(), kMagic.end(), bytes.data() + sector + kMagicOffset);
  };
  if (has_magic(0) || !has_magic(kHeaderCopyOffset)) return;
  std::copy_n(bytes.data() + kHeaderCopyOffset, kSectorSize, bytes.data());
}

void encode_header(const Header& header, std::span<std::byte, kHeaderSize> out) noexcept {
  std::fill(out.begin(), out.end(), std::byte{0});
  std::copy(header.checksum.begin(), header.checksum.end(), out.begin() + kChecksumOffset);
  std::copy(header.magic.begin(), header.magic.end(), out.begin() + kMagicOffset);
  put_le(out, kVersionOffset, header.version);
  put_le(out, kMonotonicSecondsOffset, header.time_monotonic_s);
  put_le(out, kUnixSecondsOffset, header.time_unix_s);
  put_le(out, kMonotonicNanosOffset, header.time_monotonic_ns);
  put_le(out, kUnixNanosOffset, header.time_unix_ns);
  put_le(out, kUserVersionOffset, header.user_version);
  put_le(out, kOptionsOffset, header.options);
  put_le(out, kDataSizeOffset, header.data_size);
  if ((header.options & kOptionInUse) != 0) encode_in_use_sector(out);
  std::copy(header.user_area.begin(), header.user_area.end(), out.begin() + kUserAreaOffset);
}

Header decode_header(std::span<const std::byte, kHeaderSize> in) noexcept {
  Header header;
  std::copy_n(in.begin() + kChecksumOffset, header.checksum.size(), header.checksum.begin());
  std::copy_n(in.begin() + kMagicOffset, header.magic.size(), header.magic.begin());
  header.version = get_le<std::uint64_t>(in, kVersionOffset);
  header.time_monotonic_s = get_le<std::uint32_t>(in, kMonotonicSecondsOffset);
  header.time_unix_s = get_le<std::uint32_t>(in, kUnixSecondsOffset);
  header.time_monotonic_ns = get_le<std::uint64_t>(in, kMonotonicNanosOffset);
  header.time_unix_ns = get_le<std::uint64_t>(in, kUnixNanosOffset);
  header.user_version = get_le<std::uint64_t>(in, kUserVersionOffset);
  header.options = get_le<std::uint64_t>(in, kOptionsOffset);
  header.data_size = get_le<std::uint64_t>(in, kDataSizeOffset);
  // Marked in use by the options bit (a header a save wrote) or by the in-use
  // sector (an open() that set the mark without touching sector 0); any byte
  // there that is not zero counts, so a sector torn by a power cut does too.
  const auto sector = in.subspan(kInUseSectorOffset, kInUseSectorSize);
  if (std::any_of(sector.begin(), sector.end(), [](std::byte b) { return b != std::byte{0}; })) {
    header.options |= kOptionInUse;
  }
  std::copy_n(in.begin() + kUserAreaOffset, header.user_area.size(), header.user_area.begin());
  return header;
}

std::optional<std::uint64_t> pool_file_size(std::size_t data_size) noexcept {
  // Integer arithmetic with an explicit bound, never floating point.
  constexpr std::uint64_t kMaxFileSize =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / kHeaderSize *
      kHeaderSize;
  const std::uint64_t size = data_size;
  if (size > kMaxFileSize - kHeaderSize) return std::nullopt;
  const std::uint64_t pages = (kHeaderSize + size + (kHeaderSize - 1)) / kHeaderSize;
  return pages * kHeaderSize;
}

}  // namespace datatier
