// verify_file() and read_header(): read-only checks for tools.
#include "datatier/verify.h"

#include <array>
#include <string>

#include "checksum.h"
#include "datatier/error.h"
#include "platform/file.h"
#include "platform/mapping.h"
#include "pool_check.h"

namespace datatier {
namespace {

using HeaderBytes = std::array<std::byte, kHeaderSize>;

HeaderBytes read_header_bytes(const platform::File& file) {
  HeaderBytes bytes;
  file.read_exact(bytes, 0);
  return bytes;
}

// The data size to check against when the caller names none: the one the
// header records, if it is a pool's header (a file that is no pool records
// nothing), else the one the file size implies.
std::size_t implied_data_size(std::uint64_t file_size, const std::optional<Header>& header) {
  if (header && header->magic == kMagic && header->data_size != 0) {
    return static_cast<std::size_t>(header->data_size);
  }
  return file_size > kHeaderSize ? static_cast<std::size_t>(file_size - kHeaderSize) : 0;
}

bool record(VerifyReport& report, const detail::Verdict& verdict) {
  if (!verdict) return false;
  report.error = verdict.code;
  report.message = verdict.message;
  return true;
}

}  // namespace

Header read_header(const std::filesystem::path& path) {
  return decode_header(
      read_header_bytes(platform::File::open(path, platform::File::Access::read_only)));
}

VerifyReport verify_file(const std::filesystem::path& path, const VerifyOptions& options) {
  const auto file = platform::File::open(path, platform::File::Access::read_only);
  VerifyReport report;
  report.file_size = file.size();
  HeaderBytes header_bytes{};
  if (report.file_size >= kHeaderSize) {
    header_bytes = read_header_bytes(file);
    report.header = decode_header(header_bytes);
  }
  report.data_size = options.data_size.value_or(implied_data_size(report.file_size, report.header));
  // A damaged header may record a data size no file can have: a verdict on
  // the file, unlike such a size from the caller (std::errc::invalid_argument).
  if (!options.data_size && !pool_file_size(report.data_size)) {
    report.error = errc::size_mismatch;
    report.message = "the header records a data size of " + std::to_string(report.data_size) +
                     ", more than any pool file holds; found a file of " +
                     std::to_string(report.file_size) + " bytes";
    return report;
  }

  if (record(report, detail::check_file_size(report.file_size, report.data_size))) return report;
  const Header& header = *report.header;  // the size check guarantees one
  const detail::Expectation expected{
      .data_size = report.data_size,
      .user_version = options.user_version.value_or(header.user_version),
      .accept_unclean = options.accept_unclean};
  if (record(report, detail::check_header(header, expected))) return report;

  // A read-only mapping lets every thread hash its own part of the file
  // straight from the page cache.
  const auto mapping = platform::Mapping::shared(file, static_cast<std::size_t>(report.file_size),
                                                 /*writable=*/false);
  detail::TreeHashOptions hashing;
  hashing.threads = options.threads;
  hashing.progress = options.progress;
  report.computed_checksum =
      detail::pool_checksum(detail::covered_header(header_bytes),
                            mapping.bytes().subspan(kHeaderSize, report.data_size), hashing);
  record(report, detail::check_checksum(header, *report.computed_checksum));
  return report;
}

}  // namespace datatier
