// What a save does after one of its writes or syncs failed, and what open()
// does with a damaged pool file when a previous snapshot exists.
//
// After a failed data sync the kernel may have dropped the pages it could not
// write while reporting them clean, and after a failed directory sync the
// durable directory may still give the pool's name to the file that is now
// the spare: no later save may write into either file. These tests fail the
// one call, go on, and check which file the next save wrote.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using platform::real_syscalls;
using platform::syscalls;
using testing::TempDir;

constexpr std::size_t kSize = 3 * 4096 + 100;
constexpr std::uint64_t kUserVersion = 4;

std::uint64_t inode_of(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<std::uint64_t>(st.st_ino);
}

bool is_directory(int fd) {
  struct stat st {};
  return real_syscalls().fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

// Fails the next data sync of a file, or the next sync of a directory, once
// with EIO, as a disk that lost a write does.
struct FailNextSync {
  enum class Target { file_data, directory };
  static inline Target target;
  static inline bool armed = false;

  explicit FailNextSync(Target t) {
    target = t;
    armed = true;
    syscalls().fdatasync = [](int fd) {
      if (armed && target == Target::file_data) {
        armed = false;
        errno = EIO;
        return -1;
      }
      return real_syscalls().fdatasync(fd);
    };
    syscalls().fsync = [](int fd) {
      if (armed && target == Target::directory && is_directory(fd)) {
        armed = false;
        errno = EIO;
        return -1;
      }
      return real_syscalls().fsync(fd);
    };
  }
  FailNextSync(const FailNextSync&) = delete;
  FailNextSync& operator=(const FailNextSync&) = delete;
  ~FailNextSync() { syscalls() = real_syscalls(); }
};

// After the spare's data sync failed, the next save goes into a new file:
// the old spare's pages may be gone although the page cache shows them.
TEST(SaveErrors, FailedDataSyncIsStickyTheNextSaveUsesANewSpare) {
  TempDir dir;
  const auto path = dir / "pool";
  auto pool = FileBackedMemory::create(path, kSize, kUserVersion);
  testing::fill_splitmix64(pool.data(), 1);
  pool.flush();
  testing::fill_splitmix64(pool.data(), 2);
  {
    const FailNextSync fail(FailNextSync::Target::file_data);
    EXPECT_DATATIER_ERROR(pool.flush(), std::errc::io_error);
  }
  // The file whose sync failed, kept open to read (which also keeps its
  // inode number from being reused).
  const auto spare = FileBackedMemory::spare_path(path);
  const int failed = ::open(spare.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(failed, 0);
  std::vector<std::byte> before(kHeaderSize + kSize);
  ASSERT_EQ(::pread(failed, before.data(), before.size(), 0), static_cast<ssize_t>(before.size()));
  testing::fill_splitmix64(pool.data(), 3);
  pool.flush();
  std::vector<std::byte> after(before.size());
  ASSERT_EQ(::pread(failed, after.data(), after.size(), 0), static_cast<ssize_t>(after.size()));
  struct stat st {};
  ASSERT_EQ(::fstat(failed, &st), 0);
  ::close(failed);
  EXPECT_EQ(after, before) << "the save wrote into the file whose sync failed";
  EXPECT_NE(inode_of(path), static_cast<std::uint64_t>(st.st_ino));
  pool.close();
  auto reopened = FileBackedMemory::open(path, kSize, kUserVersion);
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data(), 3));
}

// After the directory sync that follows the exchange failed, the durable
// directory may still call the old pool file `pool`, and that file is now
// the spare: the next save must not write a byte into it.
TEST(SaveErrors, FailedDirectorySyncIsStickyTheOldPoolFileIsNeverWritten) {
  TempDir dir;
  const auto path = dir / "pool";
  auto pool = FileBackedMemory::create(path, kSize, kUserVersion);
  testing::fill_splitmix64(pool.data(), 1);
  pool.flush();
  // The file the directory durably calls `pool` now, kept open to read.
  const int old_pool = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(old_pool, 0);
  std::vector<std::byte> before(kHeaderSize + kSize);
  ASSERT_EQ(::pread(old_pool, before.data(), before.size(), 0),
            static_cast<ssize_t>(before.size()));
  testing::fill_splitmix64(pool.data(), 2);
  {
    const FailNextSync fail(FailNextSync::Target::directory);
    EXPECT_DATATIER_ERROR(pool.flush(), std::errc::io_error);
  }
  for (std::uint64_t generation = 3; generation < 6; ++generation) {
    testing::fill_splitmix64(pool.data(), generation);
    pool.flush();
  }
  std::vector<std::byte> after(before.size());
  ASSERT_EQ(::pread(old_pool, after.data(), after.size(), 0), static_cast<ssize_t>(after.size()));
  ::close(old_pool);
  EXPECT_EQ(after, before) << "a save wrote into the file the durable directory calls the pool";
  pool.close();
  auto reopened = FileBackedMemory::open(path, kSize, kUserVersion);
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data(), 5));
}

// An MmapFile whose write-back failed refuses every later save with the
// first error: the page cache may have dropped bytes it could not write.
TEST(SaveErrors, MmapFileRefusesToSaveAfterAFailedSync) {
  TempDir dir;
  const auto path = dir / "pool";
  auto pool = MmapFile::create(path, kSize, kUserVersion);
  testing::fill_splitmix64(pool.data(), 1);
  {
    const FailNextSync fail(FailNextSync::Target::file_data);
    EXPECT_DATATIER_ERROR(pool.flush(), std::errc::io_error);
  }
  EXPECT_DATATIER_ERROR(pool.flush(), std::errc::io_error);
  EXPECT_DATATIER_ERROR(pool.close(), std::errc::io_error);
}

// A FileBackedMemory saves a pool in three generations: the pool file holds
// generation 3, the spare generation 2.
std::filesystem::path saved_twice(const TempDir& dir) {
  const auto path = dir / "pool";
  auto pool = FileBackedMemory::create(path, kSize, kUserVersion);
  testing::fill_splitmix64(pool.data(), 2);
  pool.flush();
  testing::fill_splitmix64(pool.data(), 3);
  pool.close();
  return path;
}

FileOptions fallback() {
  FileOptions options;
  options.fallback_to_previous = true;
  return options;
}

TEST(FallbackToPrevious, DamagedPoolFileLoadsThePreviousSnapshot) {
  TempDir dir;
  const auto path = saved_twice(dir);
  testing::flip_byte(path, kHeaderSize + 7);
  const auto damaged = testing::read_file(path);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(path, kSize, kUserVersion), errc::checksum_mismatch);
  {
    auto pool = FileBackedMemory::open(path, kSize, kUserVersion, fallback());
    EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 2));
    const Recovery& recovery = pool.recovery();
    EXPECT_TRUE(recovery.used_previous);
    EXPECT_EQ(recovery.reason, errc::checksum_mismatch);
    EXPECT_EQ(recovery.set_aside, dir / "pool.damaged");
    EXPECT_NE(recovery.message.find("checksum"), std::string::npos);
    EXPECT_EQ(testing::read_file(dir / "pool.damaged"), damaged) << "the damaged file changed";
    testing::fill_splitmix64(pool.data(), 4);
    pool.close();
  }
  // The previous snapshot is the pool file now, and saves go on from it.
  auto pool = FileBackedMemory::open(path, kSize, kUserVersion);
  EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 4));
  EXPECT_FALSE(pool.recovery().used_previous);
  EXPECT_TRUE(std::filesystem::exists(dir / "pool.damaged"));
}

// Read-only, the previous snapshot is loaded and every name stays.
TEST(FallbackToPrevious, ReadOnlyLoadsThePreviousSnapshotAndRenamesNothing) {
  TempDir dir;
  const auto path = saved_twice(dir);
  testing::flip_byte(path, kHeaderSize + 7);
  const auto damaged = testing::read_file(path);
  FileOptions options = fallback();
  options.read_only = true;
  {
    const auto pool = FileBackedMemory::open(path, kSize, kUserVersion, options);
    EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 2));
    EXPECT_TRUE(pool.recovery().used_previous);
    EXPECT_EQ(pool.recovery().reason, errc::checksum_mismatch);
    EXPECT_TRUE(pool.recovery().set_aside.empty());
  }
  EXPECT_EQ(testing::read_file(path), damaged);
  EXPECT_FALSE(std::filesystem::exists(dir / "pool.damaged"));
}

TEST(FallbackToPrevious, EachFallbackSetsTheDamagedFileAsideUnderAFreeName) {
  TempDir dir;
  const auto path = saved_twice(dir);
  for (const char* aside : {"pool.damaged", "pool.damaged.1", "pool.damaged.2"}) {
    SCOPED_TRACE(aside);
    {
      // Two clean saves, so that the spare holds a snapshot again.
      auto pool = FileBackedMemory::open(path, kSize, kUserVersion, fallback());
      pool.flush();
      pool.close();
    }
    testing::write_file(path, std::vector<std::byte>(kHeaderSize + 4096, std::byte{1}));
    auto pool = FileBackedMemory::open(path, kSize, kUserVersion, fallback());
    EXPECT_EQ(pool.recovery().reason, errc::size_mismatch);
    EXPECT_EQ(pool.recovery().set_aside, dir / aside);
    EXPECT_TRUE(std::filesystem::exists(dir / aside));
    pool.close();
  }
}

TEST(FallbackToPrevious, BothSnapshotsDamagedIsTheErrorOfThePoolFile) {
  TempDir dir;
  const auto path = saved_twice(dir);
  testing::flip_byte(path, kHeaderSize + 7);
  testing::flip_byte(FileBackedMemory::spare_path(path), kHeaderSize + 9);
  try {
    FileBackedMemory::open(path, kSize, kUserVersion, fallback());
    ADD_FAILURE() << "opened although both snapshots are damaged";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::checksum_mismatch);
    EXPECT_NE(std::string(e.what()).find("previous snapshot"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "pool.damaged")) << "nothing is moved";
}

// Verdicts that damage does not explain are reported as they are: the spare
// would fail them too, or (the in-use mark) the pool file is the newer
// snapshot.
TEST(FallbackToPrevious, OnlyDamageFallsBack) {
  TempDir dir;
  const auto path = saved_twice(dir);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(path, kSize, kUserVersion + 1, fallback()),
                        errc::user_version_mismatch);
  { auto held = FileBackedMemory::open(path, kSize, kUserVersion); }
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(path, kSize, kUserVersion, fallback()),
                        errc::unclean_shutdown);
  EXPECT_FALSE(std::filesystem::exists(dir / "pool.damaged"));
}

}  // namespace
}  // namespace datatier
