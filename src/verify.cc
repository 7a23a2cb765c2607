// verify_file() and read_header(): read-only checks for tools.
#include "datatier/verify.h"

#include <algorithm>
#include <array>
#include <vector>

#include "checksum.h"
#include "platform/file.h"
#include "pool_check.h"

namespace datatier {
namespace {

constexpr std::size_t kReadChunk = std::size_t{8} << 20;

using HeaderBytes = std::array<std::byte, kHeaderSize>;

HeaderBytes read_header_bytes(const platform::File& file) {
  HeaderBytes bytes;
  file.read_exact(bytes, 0);
  return bytes;
}

// The data size to check against when the caller names none.
std::size_t implied_data_size(std::uint64_t file_size, const std::optional<Header>& header) {
  if (header && header->data_size != 0) return static_cast<std::size_t>(header->data_size);
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

  if (record(report, detail::check_file_size(report.file_size, report.data_size))) return report;
  const Header& header = *report.header;  // the size check guarantees one
  const detail::Expectation expected{
      .data_size = report.data_size,
      .user_version = options.user_version.value_or(header.user_version),
      .accept_unclean = options.accept_unclean};
  if (record(report, detail::check_header(header, expected))) return report;

  detail::ChecksumHasher hasher(header_bytes);
  std::vector<std::byte> buffer(std::min(kReadChunk, report.data_size));
  for (std::uint64_t done = 0; done < report.data_size;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), report.data_size - done));
    const std::span<std::byte> chunk(buffer.data(), n);
    file.read_exact(chunk, kHeaderSize + done);
    hasher.update(chunk);
    done += n;
    if (options.progress) options.progress(done, report.data_size);
  }
  report.computed_checksum = hasher.finish();
  record(report, detail::check_checksum(header, *report.computed_checksum));
  return report;
}

}  // namespace datatier
