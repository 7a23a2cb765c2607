// FileBackedMemory: a Memory pool saved to and restored from a pool file,
// with crash-safe saves through a spare file swapped into place.
#include "datatier/file_backed_memory.h"

#include <optional>

#include "bulk_io.h"
#include "checksum.h"
#include "datatier/memory.h"
#include "parallel.h"
#include "platform/file.h"
#include "pool_file.h"

namespace datatier {

struct FileBackedMemory::Impl {
  Memory memory;
  detail::PoolFile pool;  // the file under the pool's path: the last snapshot
  // The file under spare_path(): where the next snapshot goes. Empty after a
  // save that had to replace the pool file (no RENAME_EXCHANGE) and could not
  // make a new spare; the next flush() makes one first.
  std::optional<detail::PoolFile> spare;
  FileOptions options;
};

namespace {

MemoryOptions memory_options(const FileOptions& options) {
  MemoryOptions memory = options.memory;
  if (memory.threads == 0) memory.threads = options.threads;
  return memory;
}

detail::PoolFile open_spare_for(const detail::PoolFile& pool, const FileOptions& options,
                                bool* created = nullptr) {
  return detail::PoolFile::open_spare(FileBackedMemory::spare_path(pool.path()), pool.data_size(),
                                      pool.user_version(), detail::creation_mode(options),
                                      options.direct_io, created);
}

}  // namespace

FileBackedMemory::FileBackedMemory(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
FileBackedMemory::FileBackedMemory(FileBackedMemory&& other) noexcept = default;
FileBackedMemory& FileBackedMemory::operator=(FileBackedMemory&& other) noexcept = default;
FileBackedMemory::~FileBackedMemory() = default;

std::filesystem::path FileBackedMemory::spare_path(const std::filesystem::path& path) {
  std::filesystem::path spare = path;
  spare += ".prev";
  return spare;
}

FileBackedMemory FileBackedMemory::create(const std::filesystem::path& path, std::size_t data_size,
                                          std::uint64_t user_version, const FileOptions& options) {
  auto pool =
      detail::PoolFile::create(path, data_size, user_version, detail::creation_mode(options));
  detail::RemoveOnFailure remove_pool(path);
  bool spare_created = false;
  auto spare = open_spare_for(pool, options, &spare_created);
  detail::RemoveOnFailure remove_spare(spare_path(path), spare_created);
  auto memory = Memory::create(data_size, memory_options(options));
  remove_pool.disarm();
  remove_spare.disarm();
  return FileBackedMemory(
      std::make_unique<Impl>(Impl{std::move(memory), std::move(pool), std::move(spare), options}));
}

FileBackedMemory FileBackedMemory::open(const std::filesystem::path& path, std::size_t data_size,
                                        std::uint64_t user_version, const FileOptions& options) {
  auto pool = detail::PoolFile::open(path, {.data_size = data_size,
                                            .user_version = user_version,
                                            .accept_unclean = options.accept_unclean});
  if (options.direct_io) pool.enable_direct_io();
  auto memory = Memory::create(data_size, memory_options(options));

  // Read straight into the pool's memory and hash each part as soon as it
  // has arrived: the hash trails the read by one task instead of following it.
  detail::ReadProgress arrived;
  Checksum computed;
  detail::run_side_by_side(
      [&] { detail::read_bulk(pool.data_file(), memory.data(), kHeaderSize, arrived); },
      [&] {
        detail::TreeHashOptions hashing;
        hashing.threads = options.threads;
        hashing.before_hashing = [&](std::uint64_t, std::uint64_t end) {
          return arrived.wait_until(end);
        };
        computed = detail::pool_checksum(detail::covered_header(pool.header_bytes()),
                                         std::as_const(memory).data(), hashing);
      });
  detail::throw_if_failed(detail::check_checksum(pool.header(), computed), path);

  auto spare = open_spare_for(pool, options);
  pool.mark_in_use();
  return FileBackedMemory(
      std::make_unique<Impl>(Impl{std::move(memory), std::move(pool), std::move(spare), options}));
}

std::span<std::byte> FileBackedMemory::data() noexcept {
  return impl_ ? impl_->memory.data() : std::span<std::byte>{};
}

std::span<const std::byte> FileBackedMemory::data() const noexcept {
  return impl_ ? std::as_const(impl_->memory).data() : std::span<const std::byte>{};
}

void FileBackedMemory::flush() {
  if (!impl_) return;
  detail::PoolFile& pool = impl_->pool;
  if (!impl_->spare) impl_->spare = open_spare_for(pool, impl_->options);
  detail::PoolFile& spare = *impl_->spare;
  // The spare was the pool file until the last exchange, and another program
  // may have resized it since: restore its size, or the exchange below would
  // put a file of the wrong size under the pool's name.
  if (spare.file().size() != spare.file_size()) spare.file().allocate(spare.file_size());
  const std::span<const std::byte> bytes = std::as_const(impl_->memory).data();

  // 1. The new snapshot goes into the spare file; the pool file is untouched.
  //    The data is in memory already, so writing and hashing run side by side.
  Header header = pool.fresh_header();
  detail::run_side_by_side(
      [&] {
        detail::write_bulk(spare.data_file(), bytes, kHeaderSize);
        spare.zero_tail();
      },
      [&] {
        detail::TreeHashOptions hashing;
        hashing.threads = impl_->options.threads;
        header.checksum = detail::pool_checksum(detail::covered_header(header), bytes, hashing);
      });
  spare.write_header(header);
  spare.file().sync_data();

  // 2. One atomic rename puts it under the pool's name. With RENAME_EXCHANGE
  //    the previous snapshot lands under the spare name, ready for the next
  //    save; without it, the previous file is replaced and a new spare made.
  const bool exchanged = platform::exchange_files(spare.path(), pool.path());
  if (!exchanged) platform::rename_file(spare.path(), pool.path());
  pool.swap_files(spare);
  if (!exchanged) {
    // `spare` now holds the replaced pool file, unlinked: never write to it.
    impl_->spare.reset();
    impl_->spare = open_spare_for(pool, impl_->options);
  }

  // 3. Make the rename itself durable.
  platform::sync_directory(pool.path().parent_path());
}

Header FileBackedMemory::header() const {
  if (!impl_) detail::throw_moved_from();
  return impl_->pool.read_header();
}

const std::filesystem::path& FileBackedMemory::path() const noexcept {
  static const std::filesystem::path kNone;
  return impl_ ? impl_->pool.path() : kNone;
}

}  // namespace datatier
