// FileBackedMemory: a Memory pool saved to and restored from a pool file,
// with crash-safe saves through a spare file swapped into place.
#include "datatier/file_backed_memory.h"

#include <algorithm>

#include "checksum.h"
#include "datatier/memory.h"
#include "platform/file.h"
#include "pool_file.h"

namespace datatier {
namespace {

// Bytes per read or write system call: large enough that the per-call cost
// vanishes, small enough that hashing the chunk just read is cache-friendly.
constexpr std::size_t kIoChunk = std::size_t{8} << 20;

// Calls `fn(offset, chunk)` for consecutive chunks of `bytes`.
template <typename Span, typename Fn>
void for_each_chunk(Span bytes, Fn fn) {
  for (std::size_t offset = 0; offset < bytes.size(); offset += kIoChunk) {
    fn(offset, bytes.subspan(offset, std::min(kIoChunk, bytes.size() - offset)));
  }
}

}  // namespace

struct FileBackedMemory::Impl {
  Memory memory;
  detail::PoolFile pool;   // the file under the pool's path: the last snapshot
  detail::PoolFile spare;  // the file under spare_path(): where the next one goes
  mode_t mode;
};

FileBackedMemory::FileBackedMemory(std::unique_ptr<Impl> impl) noexcept
    : impl_(std::move(impl)) {}
FileBackedMemory::FileBackedMemory(FileBackedMemory&& other) noexcept = default;
FileBackedMemory& FileBackedMemory::operator=(FileBackedMemory&& other) noexcept = default;
FileBackedMemory::~FileBackedMemory() = default;

std::filesystem::path FileBackedMemory::spare_path(const std::filesystem::path& path) {
  std::filesystem::path spare = path;
  spare += ".prev";
  return spare;
}

FileBackedMemory FileBackedMemory::create(const std::filesystem::path& path,
                                          std::size_t data_size, std::uint64_t user_version,
                                          const FileOptions& options) {
  const mode_t mode = detail::creation_mode(options);
  auto pool = detail::PoolFile::create(path, data_size, user_version, mode);
  detail::RemoveOnFailure remove_pool(path);
  const std::filesystem::path spare_name = spare_path(path);
  const bool spare_existed = std::filesystem::exists(spare_name);
  auto spare = detail::PoolFile::open_spare(spare_name, data_size, user_version, mode);
  detail::RemoveOnFailure remove_spare(spare_name, !spare_existed);
  auto memory = Memory::create(data_size);
  remove_pool.disarm();
  remove_spare.disarm();
  return FileBackedMemory(
      std::make_unique<Impl>(Impl{std::move(memory), std::move(pool), std::move(spare), mode}));
}

FileBackedMemory FileBackedMemory::open(const std::filesystem::path& path, std::size_t data_size,
                                        std::uint64_t user_version, const FileOptions& options) {
  auto pool = detail::PoolFile::open(
      path, {.data_size = data_size, .user_version = user_version,
             .accept_unclean = options.accept_unclean});
  auto memory = Memory::create(data_size);
  detail::ChecksumHasher hasher(pool.header_bytes());
  for_each_chunk(memory.data(), [&](std::size_t offset, std::span<std::byte> chunk) {
    pool.file().read_exact(chunk, kHeaderSize + offset);
    hasher.update(chunk);
  });
  detail::throw_if_failed(detail::check_checksum(pool.header(), hasher.finish()), path);
  const mode_t mode = detail::creation_mode(options);
  auto spare = detail::PoolFile::open_spare(spare_path(path), data_size, user_version, mode);
  pool.mark_in_use();
  return FileBackedMemory(
      std::make_unique<Impl>(Impl{std::move(memory), std::move(pool), std::move(spare), mode}));
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
  detail::PoolFile& spare = impl_->spare;

  // 1. The new snapshot goes into the spare file; the pool file is untouched.
  Header header = pool.fresh_header();
  detail::ChecksumHasher hasher(header);
  for_each_chunk(std::as_const(impl_->memory).data(),
                 [&](std::size_t offset, std::span<const std::byte> chunk) {
                   spare.file().write_all(chunk, kHeaderSize + offset);
                   hasher.update(chunk);
                 });
  spare.zero_tail();
  header.checksum = hasher.finish();
  spare.write_header(header);
  spare.file().sync_data();

  // 2. One atomic rename puts it under the pool's name. With RENAME_EXCHANGE
  //    the previous snapshot lands under the spare name, ready for the next
  //    save; without it, the previous file is replaced and a new spare made.
  const bool exchanged = platform::exchange_files(spare.path(), pool.path());
  if (!exchanged) platform::rename_file(spare.path(), pool.path());
  pool.swap_files(spare);
  if (!exchanged) {
    spare = detail::PoolFile::open_spare(spare.path(), pool.data_size(), pool.user_version(),
                                         impl_->mode);
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
