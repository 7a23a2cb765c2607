// verify_file() and read_header(): read-only checks for tools.
#include "datatier/verify.h"

#include <algorithm>
#include <array>
#include <bit>
#include <optional>
#include <string>
#include <vector>

#include "block_index.h"
#include "bulk_io.h"
#include "checksum.h"
#include "datatier/error.h"
#include "header_layout.h"
#include "platform/file.h"
#include "platform/mapping.h"
#include "pool_check.h"
#include "pool_file.h"
#include "progress_report.h"
#include "tree_checksum.h"
#include "verify_locked.h"

namespace datatier {
namespace {

using HeaderBytes = std::array<std::byte, kHeaderSize>;

HeaderBytes read_header_bytes(const platform::File& file) {
  HeaderBytes bytes;
  file.read_exact(bytes, 0);
  detail::recover_first_sector(bytes);
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

// Bytes read and hashed at a time (progress is reported after each): what
// verify holds in memory, whatever the file's size. One buffer, used again
// for every window, so its pages are faulted in once (first touches of fresh
// memory cost far more than a copy from the page cache on some virtual
// machines).
constexpr std::uint64_t kWindow = std::uint64_t{16} << 20;

// The checksum of the pool `file`, whose covered header is `header`, read
// with pread (never through a mapping, whose read errors would be signals),
// window by window: each read on the bulk reader's threads, then its blocks
// hashed on all cores. With an indexed `layout`, the values of all blocks go
// to *computed.
Checksum streamed_checksum(const platform::File& file, const detail::CoveredHeader& header,
                           const detail::BlockLayout& layout,
                           std::optional<detail::BlockIndex>* computed,
                           const VerifyOptions& options) {
  const std::uint64_t length = layout.length();
  const std::uint64_t data_size = length - kHeaderSize;
  // A window holds whole blocks (a block is at most kWindow), or the whole
  // stream when that is shorter.
  const std::uint64_t window = std::min(kWindow, std::bit_ceil(length));
  const platform::Mapping buffer =
      platform::Mapping::anonymous(static_cast<std::size_t>(window), PageSize::transparent);
  detail::TreeHashOptions hashing;
  hashing.threads = options.threads;
  detail::ProgressReport report(options.progress, data_size);
  if (layout.indexed()) computed->emplace(layout);
  for (std::uint64_t at = 0; at < length; at += window) {
    report.throw_if_cancelled(file.path());
    const auto bytes =
        buffer.bytes().first(static_cast<std::size_t>(std::min(window, length - at)));
    // The window's header bytes are the covered header's, not the file's.
    const std::uint64_t skip = at == 0 ? kHeaderSize : 0;
    detail::ReadProgress arrived;
    detail::read_bulk({&file, nullptr}, bytes.subspan(skip), at + skip, arrived);
    if (!layout.indexed()) {
      const Checksum whole =
          detail::hash_stream(header, bytes.subspan(kHeaderSize), layout, computed, hashing);
      report.finish();
      return whole;
    }
    std::vector<std::uint64_t> blocks;
    for (std::uint64_t b = at / layout.block_bytes();
         b < layout.count() && b * layout.block_bytes() < at + bytes.size(); ++b) {
      blocks.push_back(b);
    }
    detail::hash_blocks({header, bytes.data(), at, length}, layout.block_bytes(), blocks,
                        (*computed)->values(), hashing);
    report.add(bytes.size() - skip);
  }
  report.throw_if_cancelled(file.path());
  report.finish();
  return (*computed)->root();
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
  // A pool object holds an exclusive lock for as long as it has the file,
  // and may be saving into it right now: what it holds is not a verdict on
  // the file. The shared lock, held to the end, keeps an owner from taking
  // the file while it is read.
  if (!file.try_lock_shared()) {
    VerifyReport report;
    report.file_size = file.size();
    report.error = errc::pool_in_use;
    report.message =
        "a pool object, in this or another process, holds the file and may be saving it" +
        detail::lock_holders_text(file) + ": not checked";
    return report;
  }
  return detail::verify_locked(file, options);
}

namespace detail {

VerifyReport verify_locked(const platform::File& file, const VerifyOptions& options) {
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

  const std::uint64_t length = kHeaderSize + std::uint64_t{report.data_size};
  std::filesystem::path index = file.path();
  index += ".index";  // beside the pool or spare file
  const auto recorded = detail::BlockIndex::read(index, length, header.checksum);
  const detail::BlockLayout layout(report.data_size,
                                   recorded ? recorded->layout().block_bytes() : kDefaultBlockSize);
  std::optional<detail::BlockIndex> computed;
  report.computed_checksum =
      streamed_checksum(file, detail::covered_header(header_bytes), layout, &computed, options);
  if (record(report, detail::check_checksum(header, *report.computed_checksum)) && recorded &&
      computed) {
    report.damaged = layout.data_ranges(computed->differing(*recorded));
  }
  return report;
}

}  // namespace detail
}  // namespace datatier
