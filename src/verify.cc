// verify_file() and read_header(): read-only checks for tools.
#include "datatier/verify.h"

#include <array>
#include <mutex>
#include <string>

#include "bulk_io.h"
#include "checksum.h"
#include "datatier/error.h"
#include "parallel.h"
#include "platform/file.h"
#include "platform/mapping.h"
#include "pool_check.h"
#include "verify_locked.h"

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

// How far the read may run ahead of the hash, in bytes: what verify holds in
// memory at most, whatever the file's size.
constexpr std::uint64_t kReadAhead = std::uint64_t{128} << 20;
// Leaf tasks small enough that several fit in the read-ahead.
constexpr std::uint64_t kStreamTaskBytes = std::uint64_t{8} << 20;

// The checksum of the pool `file`, whose header bytes are `header`, over
// `data_size` data bytes read with pread (never through a mapping, whose
// read errors would be signals). The bytes stream through a window of
// address space: read a bounded distance ahead of the hash on the bulk
// reader's threads, hashed on all cores, freed once hashed.
Checksum streamed_checksum(const platform::File& file, const detail::CoveredHeader& header,
                           std::size_t data_size, const VerifyOptions& options) {
  const platform::Mapping window = platform::Mapping::window(data_size);
  detail::ReadProgress arrived;
  detail::ReadProgress hashed;
  std::mutex freeing;
  std::uint64_t freed = 0;  // bytes [0, freed) of the window given back
  const auto keep_bounded = [&](std::uint64_t, std::uint64_t end) {
    if (end <= kReadAhead) return;
    const std::uint64_t done = end - kReadAhead;
    if (!hashed.wait_until(done)) {
      throw Error(std::make_error_code(std::errc::operation_canceled), file.path(),
                  "reading stopped: hashing ended early");
    }
    const std::lock_guard lock(freeing);
    if (done > freed) {
      window.discard(freed, done - freed);
      freed = done;
    }
  };
  Checksum computed;
  detail::run_side_by_side(
      [&] {
        detail::read_bulk({&file, nullptr}, window.bytes(), kHeaderSize, arrived, keep_bounded);
      },
      [&] {
        detail::TreeHashOptions hashing;
        hashing.threads = options.threads;
        hashing.progress = options.progress;
        hashing.max_task_bytes = kStreamTaskBytes;
        hashing.before_hashing = [&](std::uint64_t, std::uint64_t end) {
          return arrived.wait_until(end);
        };
        hashing.after_hashing = [&](std::uint64_t begin, std::uint64_t end) {
          hashed.arrived(begin, end);
        };
        try {
          computed = detail::pool_checksum(header, window.bytes(), hashing);
        } catch (...) {
          hashed.failed();
          throw;
        }
        // The hash is done, or was abandoned by a failed read: no reader
        // waits for it any more.
        hashed.failed();
      });
  return computed;
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
        "a pool object, in this or another process, holds the file and may be saving it: "
        "not checked";
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

  report.computed_checksum =
      streamed_checksum(file, detail::covered_header(header_bytes), report.data_size, options);
  record(report, detail::check_checksum(header, *report.computed_checksum));
  return report;
}

}  // namespace detail
}  // namespace datatier
