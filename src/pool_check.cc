// The open-time checks of a pool file, shared by both file pools and verify.
#include "pool_check.h"

#include <string>

#include "checksum.h"
#include "datatier/error.h"

namespace datatier::detail {
namespace {

Verdict fail(errc code, std::string message) {
  return {make_error_code(code), std::move(message)};
}

std::string printable(const std::array<std::byte, 8>& bytes) {
  std::string out;
  for (std::byte b : bytes) {
    const auto c = std::to_integer<unsigned char>(b);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kDigits[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

}  // namespace

Verdict check_file_size(std::uint64_t file_size, std::size_t data_size) {
  const auto expected = pool_file_size(data_size);
  if (!expected) {
    return {std::make_error_code(std::errc::invalid_argument),
            "data size " + std::to_string(data_size) + " is too large for a pool file"};
  }
  if (file_size != *expected) {
    return fail(errc::size_mismatch, "expected a file of " + std::to_string(*expected) +
                                         " bytes for " + std::to_string(data_size) +
                                         " data bytes, found " + std::to_string(file_size) +
                                         " bytes");
  }
  return {};
}

Verdict check_header(const Header& header, const Expectation& expected) {
  if (header.magic != kMagic) {
    return fail(errc::bad_magic,
                R"(expected magic "PELIKAN!", found ")" + printable(header.magic) + "\"");
  }
  if (header.version != kFormatVersion) {
    return fail(errc::incompatible_version, "expected format version " +
                                                std::to_string(kFormatVersion) + ", found " +
                                                std::to_string(header.version));
  }
  if ((header.options & ~kKnownOptions) != 0) {
    return fail(errc::incompatible_version, "unknown option bits " +
                                                std::to_string(header.options & ~kKnownOptions) +
                                                " in the header");
  }
  if (header.data_size != 0 && header.data_size != expected.data_size) {
    return fail(errc::size_mismatch, "expected " + std::to_string(expected.data_size) +
                                         " data bytes, the header records " +
                                         std::to_string(header.data_size));
  }
  if (header.user_version != expected.user_version) {
    return fail(errc::user_version_mismatch, "expected user version " +
                                                 std::to_string(expected.user_version) +
                                                 ", found " + std::to_string(header.user_version));
  }
  if ((header.options & kOptionInUse) != 0 && !expected.accept_unclean) {
    return fail(errc::unclean_shutdown,
                "the file is marked in use: its last owner did not flush it before it ended");
  }
  return {};
}

Verdict check_checksum(const Header& header, const Checksum& computed) {
  if (header.checksum != computed) {
    return fail(errc::checksum_mismatch,
                "stored checksum " + to_hex(header.checksum) + ", computed " + to_hex(computed));
  }
  return {};
}

void throw_if_failed(const Verdict& verdict, const std::filesystem::path& path) {
  if (verdict) throw Error(verdict.code, path, verdict.message);
}

}  // namespace datatier::detail
