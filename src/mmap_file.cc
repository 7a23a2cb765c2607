// MmapFile: a Datapool over a shared mapping of a pool file.
#include "datatier/mmap_file.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "checksum.h"
#include "datatier/error.h"
#include "fault_in.h"
#include "parallel.h"
#include "platform/mapping.h"
#include "pool_file.h"

namespace datatier {
namespace {

// Bytes per look at the page cache for dirty pages in MmapFile::flush.
constexpr std::uint64_t kDirtyCheckBytes = std::uint64_t{8} << 20;

}  // namespace

struct MmapFile::Impl {
  detail::PoolFile file;
  platform::Mapping mapping;  // the whole file, header included
  unsigned threads;           // for hashing and faulting pages in

  std::span<std::byte> data() const noexcept {
    return mapping.bytes().subspan(kHeaderSize, file.data_size());
  }

  Checksum checksum(const detail::CoveredHeader& header,
                    detail::TreeHashOptions hashing = {}) const {
    hashing.threads = threads;
    return detail::pool_checksum(header, data(), hashing);
  }
};

MmapFile::MmapFile(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
MmapFile::MmapFile(MmapFile&& other) noexcept = default;
MmapFile& MmapFile::operator=(MmapFile&& other) noexcept = default;
MmapFile::~MmapFile() = default;

MmapFile MmapFile::create(const std::filesystem::path& path, std::size_t data_size,
                          std::uint64_t user_version, const FileOptions& options) {
  auto file =
      detail::PoolFile::create(path, data_size, user_version, detail::creation_mode(options));
  detail::RemoveOnFailure cleanup(path);
  auto mapping = platform::Mapping::shared(file.file(), static_cast<std::size_t>(file.file_size()));
  detail::fault_in(mapping, options.threads);
  cleanup.disarm();
  return MmapFile(
      std::make_unique<Impl>(Impl{std::move(file), std::move(mapping), options.threads}));
}

MmapFile MmapFile::open(const std::filesystem::path& path, std::size_t data_size,
                        std::uint64_t user_version, const FileOptions& options) {
  auto file = detail::PoolFile::open(path, {.data_size = data_size,
                                            .user_version = user_version,
                                            .accept_unclean = options.accept_unclean});
  auto mapping = platform::Mapping::shared(file.file(), static_cast<std::size_t>(file.file_size()));
  auto impl = std::make_unique<Impl>(Impl{std::move(file), std::move(mapping), options.threads});
  // Hashing reads every page, which also brings the file into memory, on
  // all the threads at once.
  detail::throw_if_failed(
      detail::check_checksum(impl->file.header(),
                             impl->checksum(detail::covered_header(impl->file.header_bytes()))),
      path);
  impl->file.mark_in_use();
  return MmapFile(std::move(impl));
}

std::span<std::byte> MmapFile::data() noexcept {
  return impl_ ? impl_->data() : std::span<std::byte>{};
}

std::span<const std::byte> MmapFile::data() const noexcept {
  return impl_ ? impl_->data() : std::span<const std::byte>{};
}

void MmapFile::flush() {
  if (!impl_) return;
  detail::PoolFile& file = impl_->file;
  // Another program may have truncated or extended the file. Hashing the
  // mapping past a new end of file would raise SIGBUS, and a header written
  // now would vouch for a file of the wrong size: refuse before either.
  if (const std::uint64_t found = file.file().size(); found != file.file_size()) {
    throw Error(errc::size_mismatch, file.path(),
                "expected a file of " + std::to_string(file.file_size()) + " bytes, found " +
                    std::to_string(found) + " bytes: resized while the pool held it; not flushed");
  }
  // Data first, then the header that vouches for it: a crash in between
  // leaves the in-use mark of the old header in place. Writing the data back
  // and hashing it only read the mapping, so they run side by side.
  //
  // Write-back write-protects each page-table entry that maps a page it
  // writes, and while threads of ours run on other cores every such change
  // interrupts them to flush their TLBs (on a virtual machine, an exit to the
  // hypervisor): 1 GiB took 0.55 s to write back beside one busy thread of
  // ours and 0.2 s beside none. So the hashing threads first drop our entries
  // for the bytes they are about to read (the dirty pages stay in the page
  // cache) and map them again clean and read-only, which write-back leaves
  // alone. They go through the data in file order several times faster than
  // the disk takes it, so write-back finds the entries gone.
  Header header = file.fresh_header();
  const platform::Mapping& mapping = impl_->mapping;
  detail::TreeHashOptions hashing;
  hashing.before_hashing = [&](std::uint64_t begin, std::uint64_t end) {
    // Pages written back since they were last written (by the kernel's
    // background write-back, say) are write-protected already: keep them,
    // looking in steps much finer than a hashing task.
    for (std::uint64_t at = kHeaderSize + begin; at < kHeaderSize + end; at += kDirtyCheckBytes) {
      const std::uint64_t length = std::min(kDirtyCheckBytes, kHeaderSize + end - at);
      if (file.file().may_have_dirty_pages(at, length)) {
        mapping.drop_page_table_entries(at, length);
      }
    }
    return true;
  };
  detail::run_parallel(2, [&](unsigned role) {
    if (role == 1) {
      mapping.sync(kHeaderSize, file.data_size(), file.path());
    } else {
      header.checksum = impl_->checksum(detail::covered_header(header), hashing);
    }
  });
  file.write_header(header);
  file.file().sync_data();
}

Header MmapFile::header() const {
  if (!impl_) detail::throw_moved_from();
  return impl_->file.read_header();
}

const std::filesystem::path& MmapFile::path() const noexcept {
  static const std::filesystem::path kNone;
  return impl_ ? impl_->file.path() : kNone;
}

}  // namespace datatier
