// remove_pool() and restore_previous(): a pool's files removed, and its previous
// snapshot put back, only while no pool object holds them.
#include <stdio.h>  // RENAME_EXCHANGE
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "platform/file.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using platform::real_syscalls;
using platform::syscalls;

constexpr std::size_t kSize = 2 * 4096 + 100;
constexpr std::uint64_t kUserVersion = 6;

// The data bytes of a pool file as stored.
std::vector<std::byte> stored_data(const std::filesystem::path& path) {
  const auto bytes = testing::read_file(path);
  if (bytes.size() < kHeaderSize + kSize) return {};
  return {bytes.begin() + kHeaderSize, bytes.begin() + kHeaderSize + kSize};
}

bool marked_in_use(const std::filesystem::path& path) {
  return (read_header(path).options & kOptionInUse) != 0;
}

class PoolFiles : public ::testing::Test {
 protected:
  // A FileBackedMemory pool whose file holds the snapshot of seed 2 and
  // whose spare holds the one of seed 1, still carrying the in-use mark it
  // got when it was the pool file (it was opened, then saved over).
  void two_snapshots() {
    {
      auto pool = FileBackedMemory::create(path_, kSize, kUserVersion);
      testing::fill_splitmix64(pool.data(), 1);
      pool.flush();
    }
    auto pool = FileBackedMemory::open(path_, kSize, kUserVersion);
    testing::fill_splitmix64(pool.data(), 2);
    pool.flush();
  }

  // Opens the spare and locks it, as another program restoring it would.
  platform::File hold_spare() const {
    auto spare = platform::File::open(spare_, platform::File::Access::read_only);
    EXPECT_TRUE(spare.try_lock_exclusive());
    return spare;
  }

  testing::TempDir dir_;
  const std::filesystem::path path_ = dir_ / "pool";
  const std::filesystem::path spare_ = FileBackedMemory::spare_path(path_);
};

using RemovePool = PoolFiles;

TEST_F(RemovePool, RemovesThePoolFileAndItsSpare) {
  two_snapshots();
  const auto removed = remove_pool(path_);
  EXPECT_EQ(removed, (std::vector<std::filesystem::path>{spare_, path_}));
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_FALSE(std::filesystem::exists(spare_));
  // The name is free again for a new pool.
  EXPECT_NO_THROW(FileBackedMemory::create(path_, kSize, kUserVersion).close());
}

TEST_F(RemovePool, RemovesAnMmapFileThatHasNoSpare) {
  MmapFile::create(path_, kSize, kUserVersion).close();
  EXPECT_EQ(remove_pool(path_), std::vector<std::filesystem::path>{path_});
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

TEST_F(RemovePool, RefusesAPoolThatAPoolObjectHolds) {
  two_snapshots();
  {
    auto fbm = FileBackedMemory::open(path_, kSize, kUserVersion);
    EXPECT_DATATIER_ERROR(remove_pool(path_), errc::pool_in_use);
    EXPECT_TRUE(std::filesystem::exists(path_));
    EXPECT_TRUE(std::filesystem::exists(spare_));
  }
  MmapFile::create(dir_ / "mapped", kSize, kUserVersion).close();
  auto mapped = MmapFile::open(dir_ / "mapped", kSize, kUserVersion);
  EXPECT_DATATIER_ERROR(remove_pool(dir_ / "mapped"), errc::pool_in_use);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "mapped"));
  mapped.close();
}

// A spare another program holds (it is restoring it, say) keeps the pool too.
TEST_F(RemovePool, RefusesAPoolWhoseSpareIsHeld) {
  two_snapshots();
  const auto spare = hold_spare();
  EXPECT_DATATIER_ERROR(remove_pool(path_), errc::pool_in_use);
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_TRUE(std::filesystem::exists(spare_));
}

TEST_F(RemovePool, RefusesAFileThatIsNotAPoolUnlessForced) {
  const std::vector<std::byte> text(5000, std::byte{'a'});
  const std::vector<std::byte> short_pool(kHeaderSize - 1, std::byte{0});
  for (const auto& contents : {text, short_pool}) {
    testing::write_file(path_, contents);
    testing::write_file(spare_, contents);
    EXPECT_DATATIER_ERROR(remove_pool(path_), errc::bad_magic);
    EXPECT_EQ(testing::read_file(path_), contents);
    EXPECT_TRUE(std::filesystem::exists(spare_));
    RemoveOptions force;
    force.force = true;
    EXPECT_EQ(remove_pool(path_, force), (std::vector<std::filesystem::path>{spare_, path_}));
    EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
  }
}

// A save's header write torn by a power cut leaves the magic in the header
// copy (bytes 1024..1536): still a pool file.
TEST_F(RemovePool, TakesAPoolWhoseHeaderWriteWasTorn) {
  MmapFile::create(path_, kSize, kUserVersion).close();
  auto bytes = testing::read_file(path_);
  std::copy_n(bytes.begin(), 512, bytes.begin() + 1024);
  std::fill_n(bytes.begin(), 512, std::byte{0xee});
  testing::write_file(path_, bytes);
  EXPECT_EQ(remove_pool(path_), std::vector<std::filesystem::path>{path_});
}

TEST_F(RemovePool, MissingFileIsNoSuchFileAndRemovesNothing) {
  testing::write_file(spare_, std::vector<std::byte>(10));
  EXPECT_DATATIER_ERROR(remove_pool(path_), std::errc::no_such_file_or_directory);
  EXPECT_TRUE(std::filesystem::exists(spare_));
}

// A link names the pool it points to, as it does for the pools: that pool's
// files go, the link stays.
TEST_F(RemovePool, LinkRemovesThePoolItNamesAndStays) {
  MmapFile::create(path_, kSize, kUserVersion).close();
  std::filesystem::create_symlink("pool", dir_ / "link");
  EXPECT_EQ(remove_pool(dir_ / "link"), std::vector<std::filesystem::path>{path_});
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_TRUE(std::filesystem::is_symlink(dir_ / "link"));
}

// Whatever else has the spare's name goes as a name only: a link's target
// is never touched.
TEST_F(RemovePool, SpareThatIsALinkGoesWithoutItsTarget) {
  MmapFile::create(path_, kSize, kUserVersion).close();
  const std::vector<std::byte> precious(100, std::byte{7});
  testing::write_file(dir_ / "precious", precious);
  std::filesystem::create_symlink("precious", spare_);
  remove_pool(path_);
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_FALSE(std::filesystem::is_symlink(spare_));
  EXPECT_EQ(testing::read_file(dir_ / "precious"), precious);
}

// The spare goes first, so a crash midway never leaves a spare without its
// pool; the directory is synced once both are gone.
TEST_F(RemovePool, RemovesTheSpareFirstThenThePoolThenSyncsTheDirectory) {
  two_snapshots();
  static std::vector<std::string> calls;
  calls.clear();
  syscalls().unlinkat = [](int dirfd, const char* name, int flags) {
    calls.push_back(std::string("unlink ") + name);
    return real_syscalls().unlinkat(dirfd, name, flags);
  };
  syscalls().fsync = [](int fd) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) calls.emplace_back("sync directory");
    return real_syscalls().fsync(fd);
  };
  remove_pool(path_);
  syscalls() = real_syscalls();
  EXPECT_EQ(calls, (std::vector<std::string>{"unlink pool.prev", "unlink pool", "sync directory"}));
}

using RestorePrevious = PoolFiles;

TEST_F(RestorePrevious, PutsThePreviousSnapshotBackAndSetsTheFileAside) {
  two_snapshots();
  ASSERT_TRUE(marked_in_use(spare_));
  const RestoreReport report = restore_previous(path_);
  EXPECT_EQ(report.path, path_);
  EXPECT_EQ(report.set_aside, dir_ / "pool.damaged");
  EXPECT_TRUE(report.restored.ok()) << report.restored.message;
  EXPECT_EQ(report.restored.data_size, kSize);
  ASSERT_TRUE(report.restored.header);
  EXPECT_EQ(report.restored.header->user_version, kUserVersion);
  EXPECT_EQ(report.restored.header->options & kOptionInUse, 0u);
  EXPECT_FALSE(std::filesystem::exists(spare_));

  // The restored pool opens as a cleanly saved one: its mark was cleared.
  EXPECT_FALSE(marked_in_use(path_));
  {
    auto pool = FileBackedMemory::open(path_, kSize, kUserVersion);
    EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 1));
    pool.close();
  }
  // The file that was there is kept, intact.
  const auto aside = verify_file(dir_ / "pool.damaged");
  EXPECT_TRUE(aside.ok()) << aside.message;
  EXPECT_TRUE(testing::holds_splitmix64(stored_data(dir_ / "pool.damaged"), 2));
}

TEST_F(RestorePrevious, RestoresOverADamagedPoolFile) {
  two_snapshots();
  testing::flip_byte(path_, kHeaderSize + 10);
  restore_previous(path_);
  auto pool = FileBackedMemory::open(path_, kSize, kUserVersion);
  EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 1));
  pool.close();
  EXPECT_EQ(verify_file(dir_ / "pool.damaged").error, errc::checksum_mismatch);
}

TEST_F(RestorePrevious, TakesTheFirstFreeDamagedName) {
  two_snapshots();
  testing::write_file(dir_ / "pool.damaged", std::vector<std::byte>(3));
  testing::write_file(dir_ / "pool.damaged.1", std::vector<std::byte>(4));
  EXPECT_EQ(restore_previous(path_).set_aside, dir_ / "pool.damaged.2");
  EXPECT_EQ(testing::read_file(dir_ / "pool.damaged").size(), 3u);
  EXPECT_EQ(testing::read_file(dir_ / "pool.damaged.1").size(), 4u);
  EXPECT_TRUE(testing::holds_splitmix64(stored_data(dir_ / "pool.damaged.2"), 2));
}

TEST_F(RestorePrevious, WithoutAPoolFileTheSpareTakesItsName) {
  two_snapshots();
  std::filesystem::remove(path_);
  const RestoreReport report = restore_previous(path_);
  EXPECT_TRUE(report.set_aside.empty());
  EXPECT_FALSE(std::filesystem::exists(spare_));
  auto pool = FileBackedMemory::open(path_, kSize, kUserVersion);
  EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 1));
  pool.close();
}

TEST_F(RestorePrevious, RefusesADamagedSpareAndChangesNothing) {
  two_snapshots();
  testing::flip_byte(spare_, kHeaderSize + 3);
  const auto pool_before = testing::read_file(path_);
  const auto spare_before = testing::read_file(spare_);
  EXPECT_DATATIER_ERROR(restore_previous(path_), errc::checksum_mismatch);
  EXPECT_EQ(testing::read_file(path_), pool_before);
  EXPECT_EQ(testing::read_file(spare_), spare_before);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "pool.damaged"));
}

// A pool created and saved once has a spare that never held a snapshot.
TEST_F(RestorePrevious, RefusesASpareThatHoldsNoSnapshotYet) {
  FileBackedMemory::create(path_, kSize, kUserVersion).close();
  try {
    restore_previous(path_);
    ADD_FAILURE() << "restored a spare that holds no snapshot";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::checksum_mismatch);
    EXPECT_NE(std::string(e.what()).find("holds none yet"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::exists(spare_));
}

TEST_F(RestorePrevious, RefusesWhileAPoolObjectHoldsTheFiles) {
  two_snapshots();
  const auto pool_before = testing::read_file(path_);
  auto pool = FileBackedMemory::open(path_, kSize, kUserVersion);
  EXPECT_DATATIER_ERROR(restore_previous(path_), errc::pool_in_use);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "pool.damaged"));
  EXPECT_TRUE(testing::holds_splitmix64(stored_data(spare_), 1));
  pool.close();
}

TEST_F(RestorePrevious, RefusesASpareHeldAlone) {
  two_snapshots();
  const auto spare = hold_spare();
  EXPECT_DATATIER_ERROR(restore_previous(path_), errc::pool_in_use);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "pool.damaged"));
}

TEST_F(RestorePrevious, WithoutASpareIsNoSuchFile) {
  MmapFile::create(path_, kSize, kUserVersion).close();
  EXPECT_DATATIER_ERROR(restore_previous(path_), std::errc::no_such_file_or_directory);
  EXPECT_TRUE(verify_file(path_).ok());
}

// Where the file system cannot exchange two names, the file is set aside
// first and the spare renamed after it.
TEST_F(RestorePrevious, WorksWithoutRenameExchange) {
  two_snapshots();
  syscalls().renameat2 = [](int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                            unsigned int flags) {
    if ((flags & RENAME_EXCHANGE) != 0) {
      errno = EINVAL;
      return -1;
    }
    return real_syscalls().renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
  };
  const RestoreReport report = restore_previous(path_);
  syscalls() = real_syscalls();
  EXPECT_EQ(report.set_aside, dir_ / "pool.damaged");
  EXPECT_TRUE(testing::holds_splitmix64(stored_data(path_), 1));
  EXPECT_TRUE(testing::holds_splitmix64(stored_data(dir_ / "pool.damaged"), 2));
  EXPECT_FALSE(std::filesystem::exists(spare_));
}

}  // namespace
}  // namespace datatier
