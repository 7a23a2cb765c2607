// Shared lifecycle of a pool file: creation, checked opening, header writes.
#include "pool_file.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "datatier/error.h"
#include "header_layout.h"
#include "platform/clock.h"
#include "platform/system_error.h"

namespace datatier::detail {
namespace {

void lock_or_throw(const platform::File& file) {
  if (!file.try_lock_exclusive()) {
    throw Error(errc::pool_in_use, file.path(),
                "another pool object, in this or another process, holds the file");
  }
}

}  // namespace

RemoveOnFailure::~RemoveOnFailure() {
  if (!armed_) return;
  try {
    platform::remove_file(path_);
  } catch (const Error&) {
    // Best effort: the failure that got us here is the one to report.
  }
}

std::uint64_t recorded_data_size(std::size_t data_size) noexcept {
  return data_size % kHeaderSize == 0 ? 0 : std::uint64_t{data_size};
}

void throw_moved_from() {
  throw Error(std::make_error_code(std::errc::bad_file_descriptor), {}, "the pool was moved from");
}

mode_t creation_mode(const FileOptions& options) noexcept {
  return static_cast<mode_t>(options.create_mode & std::filesystem::perms::mask);
}

std::uint64_t checked_file_size(const std::filesystem::path& path, std::size_t data_size) {
  if (path.empty()) {
    throw Error(std::make_error_code(std::errc::invalid_argument), path, "empty pool path");
  }
  const auto size = pool_file_size(data_size);
  if (!size) {
    throw Error(std::make_error_code(std::errc::invalid_argument), path,
                "data size " + std::to_string(data_size) + " makes the file too large");
  }
  return *size;
}

PoolFile PoolFile::create(const std::filesystem::path& path, std::size_t data_size,
                          std::uint64_t user_version, mode_t mode) {
  const std::uint64_t file_size = checked_file_size(path, data_size);
  PoolFile pool(platform::File::create_new(path, mode), data_size, user_version, file_size);
  RemoveOnFailure cleanup(path);
  lock_or_throw(pool.file_);
  pool.file_.allocate(file_size);
  Header header;
  header.user_version = user_version;
  header.data_size = recorded_data_size(data_size);
  header.options = kOptionInUse;
  pool.write_header(header);
  pool.file_.sync();
  platform::sync_directory(path.parent_path());
  cleanup.disarm();
  return pool;
}

PoolFile PoolFile::open(const std::filesystem::path& path, const Expectation& expected) {
  checked_file_size(path, expected.data_size);
  PoolFile pool(platform::File::open(path, platform::File::Access::read_write), expected.data_size,
                expected.user_version, 0);
  lock_or_throw(pool.file_);
  pool.file_size_ = pool.file_.size();
  throw_if_failed(check_file_size(pool.file_size_, expected.data_size), path);
  pool.load_header();
  throw_if_failed(check_header(pool.header_, expected), path);
  return pool;
}

PoolFile PoolFile::open_spare(const std::filesystem::path& path, std::size_t data_size,
                              std::uint64_t user_version, mode_t mode, bool direct_io,
                              bool* created) {
  const std::uint64_t file_size = checked_file_size(path, data_size);
  bool made = false;
  PoolFile spare(platform::File::open_or_create(path, mode, &made), data_size, user_version,
                 file_size);
  RemoveOnFailure cleanup(path, made);
  lock_or_throw(spare.file_);
  if (spare.file_.size() != file_size) spare.file_.allocate(file_size);
  if (direct_io) spare.enable_direct_io();
  cleanup.disarm();
  if (created != nullptr) *created = made;
  return spare;
}

void PoolFile::enable_direct_io() {
  direct_ = file_.open_direct();
}

void PoolFile::swap_files(PoolFile& other) noexcept {
  swap_descriptors(file_, other.file_);  // found by argument-dependent lookup
  if (direct_ && other.direct_) {
    swap_descriptors(*direct_, *other.direct_);
  } else {
    std::swap(direct_, other.direct_);
  }
  std::swap(header_, other.header_);
  std::swap(header_bytes_, other.header_bytes_);
}

Header PoolFile::read_header() const {
  std::array<std::byte, kHeaderSize> bytes;
  file_.read_exact(bytes, 0);
  return decode_header(bytes);
}

void PoolFile::load_header() {
  file_.read_exact(header_bytes_, 0);
  header_ = decode_header(header_bytes_);
}

Header PoolFile::fresh_header() const {
  const platform::ClockReadings clocks = platform::read_clocks();
  Header header;
  header.time_monotonic_s = clocks.monotonic_s;
  header.time_unix_s = clocks.unix_s;
  header.time_monotonic_ns = clocks.monotonic_ns;
  header.time_unix_ns = clocks.unix_ns;
  header.user_version = user_version_;
  header.data_size = recorded_data_size(data_size_);
  return header;
}

void PoolFile::write_header(const Header& header) {
  std::array<std::byte, kHeaderSize> bytes;
  encode_header(header, bytes);
  file_.write_all(bytes, 0);
  header_ = header;
  header_bytes_ = bytes;
}

void PoolFile::mark_in_use() {
  // Only the options field is rewritten: every other header byte, and so the
  // checksum over them, stays exactly as the last snapshot left it.
  const std::uint64_t options = header_.options | kOptionInUse;
  std::array<std::byte, sizeof options> bytes;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::byte>(options >> (8 * i));
  }
  file_.write_all(bytes, kOptionsOffset);
  file_.sync_data();
  header_.options = options;
  std::copy(bytes.begin(), bytes.end(), header_bytes_.begin() + kOptionsOffset);
}

void PoolFile::zero_tail() {
  const std::uint64_t data_end = kHeaderSize + std::uint64_t{data_size_};
  if (data_end == file_size_) return;
  const std::vector<std::byte> zeros(static_cast<std::size_t>(file_size_ - data_end));
  file_.write_all(zeros, data_end);
}

}  // namespace datatier::detail
