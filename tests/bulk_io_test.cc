// Bulk reads take each block the page cache holds whole from there and every
// other block from the disk (direct I/O); the bytes are the same either way.
#include "bulk_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "platform/file.h"
#include "platform/mapping.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier::detail {
namespace {

// Five whole blocks and a partial last page.
constexpr std::size_t kBytes = 5 * kBulkBlock + 1234;

std::byte pattern(std::size_t i) {
  return static_cast<std::byte>((i * 131 + i / 4096) % 251);
}

void evict(const platform::File& file) {
  file.sync_data();
  ASSERT_EQ(::posix_fadvise(file.fd(), 0, 0, POSIX_FADV_DONTNEED), 0);
}

// Bytes [offset, offset + length) of a file, brought into the page cache and
// no more (through a descriptor of its own with read-ahead off), then locked
// there while this lives, so that memory pressure from whatever else runs on
// the machine cannot evict them before the test reads.
class CachedRange {
 public:
  CachedRange(const platform::File& file, std::uint64_t offset, std::size_t length)
      : length_(length) {
    const auto reader = platform::File::open(file.path(), platform::File::Access::read_only);
    EXPECT_EQ(::posix_fadvise(reader.fd(), 0, 0, POSIX_FADV_RANDOM), 0);
    std::vector<std::byte> scratch(length);
    reader.read_exact(scratch, offset);
    void* mapped =
        ::mmap(nullptr, length, PROT_READ, MAP_SHARED, reader.fd(), static_cast<off_t>(offset));
    if (mapped == MAP_FAILED) {
      ADD_FAILURE() << "mmap: " << std::strerror(errno);
      return;
    }
    data_ = mapped;
    EXPECT_EQ(::madvise(data_, length_, MADV_RANDOM), 0) << std::strerror(errno);
    EXPECT_EQ(::mlock(data_, length_), 0) << std::strerror(errno);
  }
  CachedRange(const CachedRange&) = delete;
  CachedRange& operator=(const CachedRange&) = delete;
  ~CachedRange() {
    if (data_ != nullptr) ::munmap(data_, length_);
  }

 private:
  void* data_ = nullptr;
  std::size_t length_;
};

// Bytes read through each descriptor, while alive.
class ReadCounter {
 public:
  ReadCounter() {
    counts().clear();
    platform::syscalls().pread = counting_pread;
  }
  ReadCounter(const ReadCounter&) = delete;
  ReadCounter& operator=(const ReadCounter&) = delete;
  ~ReadCounter() { platform::syscalls().pread = platform::real_syscalls().pread; }

  std::uint64_t bytes_through(const platform::File& file) const {
    const std::lock_guard lock(mutex());
    return counts()[file.fd()];
  }

 private:
  static std::map<int, std::uint64_t>& counts() {
    static std::map<int, std::uint64_t> counts;
    return counts;
  }
  static std::mutex& mutex() {
    static std::mutex mutex;
    return mutex;
  }
  static ssize_t counting_pread(int fd, void* buf, std::size_t count, off_t offset) {
    const ssize_t got = platform::real_syscalls().pread(fd, buf, count, offset);
    if (got > 0) {
      const std::lock_guard lock(mutex());
      counts()[fd] += static_cast<std::uint64_t>(got);
    }
    return got;
  }
};

class BulkReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_.emplace(platform::File::create_new(dir_ / "f", 0600));
    std::vector<std::byte> bytes(kBytes);
    for (std::size_t i = 0; i < kBytes; ++i) bytes[i] = pattern(i);
    file_->write_all(bytes, 0);
    direct_ = file_->open_direct();
    if (!direct_) GTEST_SKIP() << "the file system of " << dir_.path() << " has no direct I/O";
    evict(*file_);
  }

  // Reads the whole file with read_bulk and checks every byte.
  void read_and_check() {
    const auto memory = platform::Mapping::anonymous(kBytes, PageSize::small);
    ReadProgress progress;
    read_bulk({&*file_, &*direct_}, memory.bytes(), 0, progress);
    EXPECT_TRUE(progress.wait_until(kBytes));
    const auto bytes = memory.bytes();
    for (std::size_t i = 0; i < kBytes; ++i) ASSERT_EQ(bytes[i], pattern(i)) << i;
  }

  testing::TempDir dir_;
  std::optional<platform::File> file_;
  std::optional<platform::File> direct_;
};

TEST_F(BulkReadTest, InPageCacheTellsCachedFromEvictedPages) {
  if (!testing::kernel_has_cachestat()) GTEST_SKIP() << "this kernel has no cachestat(2)";
  EXPECT_FALSE(file_->in_page_cache(0, kBytes));
  std::optional<CachedRange> cached(std::in_place, *file_, 0, kBulkBlock);
  EXPECT_TRUE(file_->in_page_cache(0, kBulkBlock));
  EXPECT_TRUE(file_->in_page_cache(100, 5000));  // unaligned, inside what is cached
  EXPECT_FALSE(file_->in_page_cache(0, kBulkBlock + 1));
  EXPECT_FALSE(file_->in_page_cache(kBulkBlock, kBulkBlock));
  EXPECT_TRUE(file_->in_page_cache(kBulkBlock, 0));
  cached.reset();
  evict(*file_);
  EXPECT_FALSE(file_->in_page_cache(0, kBulkBlock));
}

TEST_F(BulkReadTest, MayHaveDirtyPagesTellsWrittenFromWrittenBackPages) {
  const std::vector<std::byte> bytes(100, std::byte{1});
  file_->write_all(bytes, kBulkBlock + 10);
  EXPECT_TRUE(file_->may_have_dirty_pages(kBulkBlock, kBulkBlock));
  EXPECT_TRUE(file_->may_have_dirty_pages(kBulkBlock + 4000, 100));  // the same page
  EXPECT_FALSE(file_->may_have_dirty_pages(kBulkBlock, 0));
  if (!testing::kernel_has_cachestat()) GTEST_SKIP() << "this kernel has no cachestat(2)";
  EXPECT_FALSE(file_->may_have_dirty_pages(0, kBulkBlock));
  EXPECT_FALSE(file_->may_have_dirty_pages(kBulkBlock + 4096, kBulkBlock));
  file_->sync_data();
  EXPECT_FALSE(file_->may_have_dirty_pages(0, kBytes));
}

TEST_F(BulkReadTest, ReadsAnUncachedFileDirectly) {
  ReadCounter counter;
  read_and_check();
  EXPECT_EQ(counter.bytes_through(*direct_), 5 * kBulkBlock);
  EXPECT_EQ(counter.bytes_through(*file_), 1234u);  // the partial last page
}

TEST_F(BulkReadTest, ReadsCachedBlocksFromThePageCache) {
  if (!testing::kernel_has_cachestat()) GTEST_SKIP() << "this kernel has no cachestat(2)";
  const CachedRange second(*file_, 1 * kBulkBlock, kBulkBlock);
  const CachedRange fourth(*file_, 3 * kBulkBlock, kBulkBlock);
  const CachedRange half(*file_, 4 * kBulkBlock, kBulkBlock / 2);  // half a block: read directly
  ReadCounter counter;
  read_and_check();
  EXPECT_EQ(counter.bytes_through(*direct_), 3 * kBulkBlock);
  EXPECT_EQ(counter.bytes_through(*file_), 2 * kBulkBlock + 1234);
}

TEST_F(BulkReadTest, ReadsAWhollyCachedFileFromThePageCache) {
  if (!testing::kernel_has_cachestat()) GTEST_SKIP() << "this kernel has no cachestat(2)";
  const CachedRange whole(*file_, 0, kBytes);
  ReadCounter counter;
  read_and_check();
  EXPECT_EQ(counter.bytes_through(*direct_), 0u);
  EXPECT_EQ(counter.bytes_through(*file_), kBytes);
}

}  // namespace
}  // namespace datatier::detail
