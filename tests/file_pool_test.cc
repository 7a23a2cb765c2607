// Behaviour common to the file-backed pools: round trips at every size, every
// error code, the in-use mark, locking and file hygiene.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include "pool_kinds.h"
#include "process_state.h"
#include "test_util.h"

namespace datatier {
namespace {

using testing::FileBackedMemoryKind;
using testing::MmapFileKind;

template <typename Kind>
class FilePool : public ::testing::Test {
 protected:
  using Pool = typename Kind::Pool;

  std::filesystem::path path() const { return dir_ / "pool"; }

  // Creates a pool of `size` bytes filled from `seed` and closes it cleanly.
  void make_saved_pool(std::size_t size, std::uint64_t user_version = 0, std::uint64_t seed = 1) {
    auto pool = Kind::create(dir_, size, user_version);
    testing::fill_splitmix64(pool.data(), seed);
    pool.close();
  }

  void expect_contents(const Pool& pool, std::size_t size, std::uint64_t seed) {
    ASSERT_EQ(pool.size(), size);
    const auto expected = testing::splitmix64_bytes(size, seed);
    EXPECT_TRUE(
        std::equal(pool.data().begin(), pool.data().end(), expected.begin(), expected.end()));
  }

  testing::TempDir dir_;
};

using Kinds = ::testing::Types<MmapFileKind, FileBackedMemoryKind>;
TYPED_TEST_SUITE(FilePool, Kinds, testing::PoolKindNames);

TYPED_TEST(FilePool, RoundTripsEveryDataSize) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096},
                           std::size_t{4097}, std::size_t{(1u << 20) + 3}}) {
    SCOPED_TRACE(size);
    testing::TempDir dir;
    {
      auto pool = TypeParam::create(dir, size, 3);
      EXPECT_EQ(pool.size(), size);
      testing::fill_splitmix64(pool.data(), size);
      pool.close();
    }
    EXPECT_EQ(std::filesystem::file_size(dir / "pool"), *pool_file_size(size));
    {
      auto pool = TypeParam::open(dir, size, 3);
      this->expect_contents(pool, size, size);
      // Reopen → write → save cycles keep every size openable.
      testing::fill_splitmix64(pool.data(), size + 1);
      pool.close();
    }
    auto pool = TypeParam::open(dir, size, 3);
    this->expect_contents(pool, size, size + 1);
  }
}

TYPED_TEST(FilePool, RoundTrips256MiB) {
  constexpr std::size_t kSize = std::size_t{256} << 20;
  this->make_saved_pool(kSize, 1, 77);
  auto pool = TypeParam::open(this->dir_, kSize, 1);
  this->expect_contents(pool, kSize, 77);
}

TYPED_TEST(FilePool, PartialLastPageIsPaddedWithZeros) {
  this->make_saved_pool(5000);
  const auto file = testing::read_file(this->path());
  ASSERT_EQ(file.size(), 12288u);
  for (std::size_t i = kHeaderSize + 5000; i < file.size(); ++i) ASSERT_EQ(file[i], std::byte{0});
}

TYPED_TEST(FilePool, HeaderReportsWhatTheFileHolds) {
  auto pool = TypeParam::create(this->dir_, 8192, 42);
  testing::fill_splitmix64(pool.data(), 3);
  pool.flush();
  const Header h = pool.header();
  const auto file = testing::read_file(this->path());
  EXPECT_EQ(h, decode_header(std::span<const std::byte, kHeaderSize>(file.data(), kHeaderSize)));
  EXPECT_EQ(h.magic, kMagic);
  EXPECT_EQ(h.version, kFormatVersion);
  EXPECT_EQ(h.user_version, 42u);
  // An MmapFile keeps its in-use mark until close(); a FileBackedMemory's
  // saved snapshot is clean.
  constexpr bool kMmap = std::is_same_v<typename TypeParam::Pool, MmapFile>;
  EXPECT_EQ(h.options, kMmap ? kOptionInUse : 0u);
  EXPECT_EQ(h.data_size, 0u);  // whole pages: not recorded, as the reference writes
  EXPECT_GT(h.time_unix_s, 1'600'000'000u);
  EXPECT_GT(h.time_unix_ns / 1'000'000'000u, 1'600'000'000u);
  EXPECT_NE(h.checksum, Checksum{});
}

TYPED_TEST(FilePool, RecordsOddDataSizesInTheHeader) {
  this->make_saved_pool(5000);
  EXPECT_EQ(read_header(this->path()).data_size, 5000u);
}

TYPED_TEST(FilePool, OpenOfMissingFileKeepsErrno) {
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096), std::errc::no_such_file_or_directory);
}

TYPED_TEST(FilePool, CreateRefusesAnExistingFile) {
  this->make_saved_pool(4096);
  EXPECT_DATATIER_ERROR(TypeParam::create(this->dir_, 4096), std::errc::file_exists);
  auto pool = TypeParam::open(this->dir_, 4096);  // untouched
  this->expect_contents(pool, 4096, 1);
}

TYPED_TEST(FilePool, OpenWithAnotherPageCountIsASizeMismatch) {
  this->make_saved_pool(8192);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8193), errc::size_mismatch);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096), errc::size_mismatch);
}

TYPED_TEST(FilePool, TruncatedOrExtendedFileIsASizeMismatch) {
  this->make_saved_pool(8192);
  std::filesystem::resize_file(this->path(), 8192);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192), errc::size_mismatch);
  std::filesystem::resize_file(this->path(), 16384);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192), errc::size_mismatch);
  std::filesystem::resize_file(this->path(), 0);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192), errc::size_mismatch);
}

TYPED_TEST(FilePool, OddSizeOpenedWithAnotherSizeOfTheSamePagesIsASizeMismatch) {
  this->make_saved_pool(5000);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 5001), errc::size_mismatch);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192), errc::size_mismatch);
}

struct Corruption {
  std::uint64_t offset;
  errc expected;
};

TYPED_TEST(FilePool, EachCorruptedFieldGivesItsError) {
  constexpr std::size_t kSize = 8192;
  const Corruption cases[] = {
      {0, errc::checksum_mismatch},
      {31, errc::checksum_mismatch},
      {32, errc::bad_magic},
      {39, errc::bad_magic},
      {40, errc::incompatible_version},
      {47, errc::incompatible_version},
      {48, errc::checksum_mismatch},
      {52, errc::checksum_mismatch},
      {56, errc::checksum_mismatch},
      {64, errc::checksum_mismatch},
      {72, errc::user_version_mismatch},
      {80, errc::checksum_mismatch},  // the in-use bit
      {87, errc::incompatible_version},
      {88, errc::size_mismatch},
      {96, errc::checksum_mismatch},
      {4095, errc::checksum_mismatch},
      {4096, errc::checksum_mismatch},
      {4096 + kSize / 2, errc::checksum_mismatch},
      {4096 + kSize - 1, errc::checksum_mismatch},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.offset);
    testing::TempDir dir;
    {
      auto pool = TypeParam::create(dir, kSize);
      testing::fill_splitmix64(pool.data(), 1);
      pool.close();
    }
    testing::flip_byte(dir / "pool", c.offset);
    if (c.offset == 80) {
      // Flipping bit 0 of options sets the in-use mark: unclean, and with the
      // mark accepted the data still verifies.
      EXPECT_DATATIER_ERROR(TypeParam::open(dir, kSize), errc::unclean_shutdown);
      FileOptions accept;
      accept.accept_unclean = true;
      EXPECT_NO_THROW(TypeParam::open(dir, kSize, 0, accept));
      continue;
    }
    EXPECT_DATATIER_ERROR(TypeParam::open(dir, kSize), c.expected);
  }
}

TYPED_TEST(FilePool, UserVersionIsCoveredByTheChecksum) {
  this->make_saved_pool(4096, 0);
  testing::flip_byte(this->path(), 72);  // user version 0 → 1
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096, 0), errc::user_version_mismatch);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096, 1), errc::checksum_mismatch);
}

TYPED_TEST(FilePool, WrongUserVersionIsReportedBeforeCorruptData) {
  this->make_saved_pool(8192, 5);
  testing::flip_byte(this->path(), 5000);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192, 6), errc::user_version_mismatch);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192, 5), errc::checksum_mismatch);
}

TYPED_TEST(FilePool, NotAPoolFileIsBadMagic) {
  std::vector<std::byte> text(8192, std::byte{'x'});
  testing::write_file(this->path(), text);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096), errc::bad_magic);
}

TYPED_TEST(FilePool, ErrorsNameTheFileAndTheValues) {
  this->make_saved_pool(4096, 7);
  try {
    TypeParam::open(this->dir_, 4096, 8);
    FAIL() << "opened with the wrong user version";
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), this->path());
    const std::string what = e.what();
    EXPECT_NE(what.find(this->path().string()), std::string::npos) << what;
    EXPECT_NE(what.find("expected user version 8, found 7"), std::string::npos) << what;
  }
}

TYPED_TEST(FilePool, InvalidArgumentsAreRefusedNotCrashed) {
  EXPECT_DATATIER_ERROR(TestFixture::Pool::create("", 4096, 0), std::errc::invalid_argument);
  EXPECT_DATATIER_ERROR(TestFixture::Pool::open("", 4096, 0), std::errc::invalid_argument);
  const std::size_t huge = std::numeric_limits<std::size_t>::max() - 100;
  EXPECT_DATATIER_ERROR(TestFixture::Pool::create(this->path(), huge, 0),
                        std::errc::invalid_argument);
  EXPECT_DATATIER_ERROR(TestFixture::Pool::open(this->path(), huge, 0),
                        std::errc::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(this->path()));
}

TYPED_TEST(FilePool, ADirectoryIsNotAPool) {
  std::filesystem::create_directory(this->path());
  EXPECT_DATATIER_ERROR(TestFixture::Pool::open(this->path(), 4096, 0), std::errc::is_a_directory);
  EXPECT_DATATIER_ERROR(TestFixture::Pool::create(this->path(), 4096, 0), std::errc::file_exists);
}

TYPED_TEST(FilePool, CreateInAMissingDirectoryFails) {
  EXPECT_DATATIER_ERROR(TestFixture::Pool::create(this->dir_ / "no/such/dir/pool", 4096, 0),
                        std::errc::no_such_file_or_directory);
}

// Root bypasses permission bits, so as root the open runs in a child that has
// become nobody (uid and gid 65534), and the test is skipped if it cannot.
TYPED_TEST(FilePool, UnreadableFileIsPermissionDenied) {
  namespace fs = std::filesystem;
  this->make_saved_pool(4096);
  fs::permissions(this->path(), fs::perms::none);
  if (::geteuid() != 0) {
    EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096), std::errc::permission_denied);
    return;
  }
  // Nobody may reach the file, so only the file's own bits can refuse it.
  fs::permissions(this->dir_.path(), fs::perms::others_exec, fs::perm_options::add);
  enum Outcome { kRefused, kOpened, kOtherError, kCannotDrop };
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    constexpr uid_t kNobody = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(kCannotDrop);
    }
    struct stat st;
    if (::stat(this->path().c_str(), &st) != 0) ::_exit(kOtherError);  // cannot reach it
    try {
      auto pool = TypeParam::open(this->dir_, 4096);
      ::_exit(kOpened);
    } catch (const Error& e) {
      ::_exit(e.code() == std::errc::permission_denied ? kRefused : kOtherError);
    } catch (...) {
      ::_exit(kOtherError);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child ended by signal " << WTERMSIG(status);
  if (WEXITSTATUS(status) == kCannotDrop) {
    GTEST_SKIP() << "cannot become uid/gid 65534 to drop root's permission bypass";
  }
  EXPECT_EQ(WEXITSTATUS(status), kRefused)
      << (WEXITSTATUS(status) == kOpened ? "nobody opened a file without permission"
                                         : "open failed, but not with permission_denied");
}

TYPED_TEST(FilePool, NewFilesAreOwnerReadWriteOnly) {
  const mode_t old_mask = ::umask(0);
  this->make_saved_pool(4096);
  ::umask(old_mask);
  const auto perms = std::filesystem::status(this->path()).permissions();
  EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TYPED_TEST(FilePool, CreateModeCanBeChosen) {
  const mode_t old_mask = ::umask(0);
  FileOptions options;
  options.create_mode = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                        std::filesystem::perms::group_read;
  { auto pool = TestFixture::Pool::create(this->path(), 4096, 0, options); }
  ::umask(old_mask);
  EXPECT_EQ(std::filesystem::status(this->path()).permissions(), options.create_mode);
}

TYPED_TEST(FilePool, PoolNeverFlushedIsAnUncleanShutdown) {
  { auto pool = TypeParam::create(this->dir_, 4096); }
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096), errc::unclean_shutdown);
  // Nothing was ever saved, so there is no snapshot to accept either.
  FileOptions accept;
  accept.accept_unclean = true;
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096, 0, accept), errc::checksum_mismatch);
}

TYPED_TEST(FilePool, PoolOpenedAndNotFlushedIsAnUncleanShutdown) {
  this->make_saved_pool(4096, 0, 9);
  { auto pool = TypeParam::open(this->dir_, 4096); }
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096), errc::unclean_shutdown);
  FileOptions accept;
  accept.accept_unclean = true;
  auto pool = TypeParam::open(this->dir_, 4096, 0, accept);
  this->expect_contents(pool, 4096, 9);
  pool.close();
  EXPECT_NO_THROW(TypeParam::open(this->dir_, 4096));
}

TYPED_TEST(FilePool, CloseClearsTheInUseMark) {
  auto pool = TypeParam::create(this->dir_, 4096);
  EXPECT_EQ(read_header(this->path()).options & kOptionInUse, kOptionInUse);
  pool.close();
  EXPECT_EQ(read_header(this->path()).options & kOptionInUse, 0u);
  EXPECT_TRUE(pool.data().empty()) << "close() releases the pool";
  EXPECT_DATATIER_ERROR(pool.flush(), std::errc::bad_file_descriptor);
  EXPECT_DATATIER_ERROR(pool.close(), std::errc::bad_file_descriptor);
}

// The mark tells an operator that the owner died unsaved, not that the disk
// is corrupt: a pool killed while its owner writes says unclean_shutdown.
TYPED_TEST(FilePool, PoolDestroyedAfterFlushAndWritesIsUncleanNotCorrupt) {
  {
    auto pool = TypeParam::create(this->dir_, 8192);
    testing::fill_splitmix64(pool.data(), 1);
    pool.flush();
    testing::fill_splitmix64(pool.data(), 2);  // the owner goes on writing, then dies
  }
  if constexpr (std::is_same_v<typename TypeParam::Pool, MmapFile>) {
    EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192), errc::unclean_shutdown);
  } else {
    // A FileBackedMemory's file holds the flushed snapshot, clean.
    auto pool = TypeParam::open(this->dir_, 8192);
    this->expect_contents(pool, 8192, 1);
  }
}

TYPED_TEST(FilePool, FlushFromAForkedChildIsRefused) {
  auto pool = TypeParam::create(this->dir_, 4096);
  testing::fill_splitmix64(pool.data(), 1);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int status = 1;
    try {
      pool.flush();
    } catch (const Error& e) {
      status = e.code() == std::errc::operation_not_permitted ? 0 : 2;
    }
    ::_exit(status);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's flush() was not refused";
  EXPECT_NO_THROW(pool.flush()) << "the parent still saves";
}

TYPED_TEST(FilePool, ConcurrentFlushesAreSerialised) {
  auto pool = TypeParam::create(this->dir_, std::size_t{4} << 20);
  testing::fill_splitmix64(pool.data(), 5);
  std::vector<std::thread> savers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    savers.emplace_back([&] {
      try {
        for (int j = 0; j < 3; ++j) pool.flush();
      } catch (const Error&) {
        ++failures;
      }
    });
  }
  for (auto& t : savers) t.join();
  EXPECT_EQ(failures.load(), 0);
  pool.close();
  auto reopened = TypeParam::open(this->dir_, std::size_t{4} << 20);
  this->expect_contents(reopened, std::size_t{4} << 20, 5);
}

TYPED_TEST(FilePool, RelativePathSurvivesAChangeOfWorkingDirectory) {
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(this->dir_.path());
  auto pool = TypeParam::Pool::create("relative.pool", 4096, 0);
  std::filesystem::current_path("/");  // as daemon(3) does
  testing::fill_splitmix64(pool.data(), 3);
  pool.flush();
  pool.close();
  std::filesystem::current_path(old_cwd);
  EXPECT_EQ(pool.path(), std::filesystem::path{});
  auto reopened = TypeParam::Pool::open(this->dir_ / "relative.pool", 4096, 0);
  this->expect_contents(reopened, 4096, 3);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path("/relative.pool")));
}

TYPED_TEST(FilePool, PoolPathThatIsALinkIsResolvedOnce) {
  std::filesystem::create_directory(this->dir_ / "real");
  std::filesystem::create_directory_symlink(this->dir_ / "real", this->dir_ / "via");
  {
    auto pool = TypeParam::Pool::create(this->dir_ / "via" / "pool", 4096, 0);
    testing::fill_splitmix64(pool.data(), 4);
    pool.flush();
    // The link now points elsewhere: saves still go where the pool is.
    std::filesystem::remove(this->dir_ / "via");
    std::filesystem::create_directory(this->dir_ / "via");
    testing::fill_splitmix64(pool.data(), 5);
    pool.close();
  }
  EXPECT_FALSE(std::filesystem::exists(this->dir_ / "via" / "pool"));
  // A file link: opening through it saves into the file it names, which
  // stays a regular file, and the link stays a link.
  std::filesystem::create_symlink(this->dir_ / "real" / "pool", this->dir_ / "link");
  {
    auto pool = TypeParam::Pool::open(this->dir_ / "link", 4096, 0);
    this->expect_contents(pool, 4096, 5);
    EXPECT_EQ(pool.path(), this->dir_ / "real" / "pool");
    testing::fill_splitmix64(pool.data(), 6);
    pool.flush();
    pool.flush();
    pool.close();
  }
  EXPECT_TRUE(std::filesystem::is_symlink(this->dir_ / "link"));
  EXPECT_TRUE(std::filesystem::is_regular_file(
      std::filesystem::symlink_status(this->dir_ / "real" / "pool")));
  auto pool = TypeParam::Pool::open(this->dir_ / "real" / "pool", 4096, 0);
  this->expect_contents(pool, 4096, 6);
}

TYPED_TEST(FilePool, SaveAfterThePoolFileWasRemovedIsAnError) {
  auto pool = TypeParam::create(this->dir_, 4096);
  std::filesystem::remove(this->path());
  EXPECT_DATATIER_ERROR(pool.flush(), errc::file_replaced);
}

TYPED_TEST(FilePool, SaveAfterThePoolFileWasReplacedIsAnErrorAndLeavesTheForeignFile) {
  auto pool = TypeParam::create(this->dir_, 4096);
  testing::write_file(this->dir_ / "foreign", std::vector<std::byte>(100, std::byte{7}));
  std::filesystem::rename(this->dir_ / "foreign", this->path());
  EXPECT_DATATIER_ERROR(pool.flush(), errc::file_replaced);
  EXPECT_EQ(testing::read_file(this->path()), std::vector<std::byte>(100, std::byte{7}));
}

TYPED_TEST(FilePool, SecondOpenWhileHeldIsPoolInUse) {
  this->make_saved_pool(4096);
  {
    auto held = TypeParam::open(this->dir_, 4096);
    EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 4096), errc::pool_in_use);
    held.close();
  }
  EXPECT_NO_THROW(TypeParam::open(this->dir_, 4096));
}

TYPED_TEST(FilePool, OpenOrCreateCreatesOpensAndRecreates) {
  {
    auto made = TestFixture::Pool::open_or_create(this->path(), 8192, 2);
    EXPECT_EQ(made.outcome, Outcome::created);
    EXPECT_FALSE(made.reason);
    testing::fill_splitmix64(made.pool.data(), 7);
    made.pool.close();
  }
  {
    auto found = TestFixture::Pool::open_or_create(this->path(), 8192, 2);
    EXPECT_EQ(found.outcome, Outcome::opened);
    this->expect_contents(found.pool, 8192, 7);
    found.pool.close();
  }
  // A format verdict: a new pool in place of the file, and why.
  auto changed = TestFixture::Pool::open_or_create(this->path(), 8192, 3);
  EXPECT_EQ(changed.outcome, Outcome::recreated);
  EXPECT_EQ(changed.reason, errc::user_version_mismatch);
  EXPECT_TRUE(std::all_of(changed.pool.data().begin(), changed.pool.data().end(),
                          [](std::byte b) { return b == std::byte{0}; }));
  changed.pool.close();
  testing::flip_byte(this->path(), kHeaderSize + 5);
  auto damaged = TestFixture::Pool::open_or_create(this->path(), 8192, 3);
  EXPECT_EQ(damaged.outcome, Outcome::recreated);
  EXPECT_EQ(damaged.reason, errc::checksum_mismatch);
}

TYPED_TEST(FilePool, OpenOrCreateThrowsWhatANewPoolWouldNotMend) {
  this->make_saved_pool(4096, 1, 3);
  {
    auto held = TypeParam::open(this->dir_, 4096, 1);
    EXPECT_DATATIER_ERROR(TestFixture::Pool::open_or_create(this->path(), 4096, 1),
                          errc::pool_in_use);
    held.close();
  }
  EXPECT_DATATIER_ERROR(
      TestFixture::Pool::open_or_create(this->dir_ / "no-such-dir" / "pool", 4096, 1),
      std::errc::no_such_file_or_directory);
  auto pool = TypeParam::open(this->dir_, 4096, 1);
  this->expect_contents(pool, 4096, 3);
}

TYPED_TEST(FilePool, UserAreaIsSavedAndCheckedWithTheSnapshot) {
  {
    auto pool = TypeParam::create(this->dir_, 8192);
    ASSERT_EQ(pool.user_area().size(), kUserAreaSize);
    EXPECT_GE(pool.user_area().size(), 1024u);
    EXPECT_TRUE(std::all_of(pool.user_area().begin(), pool.user_area().end(),
                            [](std::byte b) { return b == std::byte{0}; }));
    testing::fill_splitmix64(pool.user_area(), 11);
    testing::fill_splitmix64(pool.data(), 12);
    pool.close();
    EXPECT_TRUE(pool.user_area().empty());
  }
  const auto file = testing::read_file(this->path());
  const auto expected = testing::splitmix64_bytes(kUserAreaSize, 11);
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), file.begin() + kUserAreaOffset));
  EXPECT_EQ(read_header(this->path()).user_area, [&] {
    UserArea area;
    std::copy(expected.begin(), expected.end(), area.begin());
    return area;
  }());
  {
    auto pool = TypeParam::open(this->dir_, 8192);
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), pool.user_area().begin()));
    pool.close();
  }
  // Covered by the checksum like every header byte.
  testing::flip_byte(this->path(), kUserAreaOffset + 100);
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, 8192), errc::checksum_mismatch);
}

TYPED_TEST(FilePool, ErrorCodeOverloadsReportWhatTheThrowingOnesThrow) {
  using P = typename TestFixture::Pool;
  std::error_code ec;
  EXPECT_FALSE(P::open(this->path(), 4096, 1, {}, ec));
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  auto made = P::create(this->path(), 4096, 1, {}, ec);
  ASSERT_TRUE(made) << ec.message();
  EXPECT_FALSE(ec);
  EXPECT_FALSE(P::create(this->path(), 4096, 1, {}, ec));
  EXPECT_EQ(ec, std::errc::file_exists);
  EXPECT_FALSE(P::open(this->path(), 4096, 1, {}, ec));
  EXPECT_EQ(ec, errc::pool_in_use);
  testing::fill_splitmix64(made->data(), 8);
  made->flush(ec);
  EXPECT_FALSE(ec) << ec.message();
  made->close(ec);
  EXPECT_FALSE(ec) << ec.message();
  made->flush(ec);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  EXPECT_FALSE(P::open(this->path(), 4096, 2, {}, ec));
  EXPECT_EQ(ec, errc::user_version_mismatch);
  auto opened = P::open_or_create(this->path(), 4096, 1, {}, ec);
  ASSERT_TRUE(opened) << ec.message();
  EXPECT_EQ(opened->outcome, Outcome::opened);
  this->expect_contents(opened->pool, 4096, 8);
  std::filesystem::remove(this->path());
  opened->pool.flush(ec);
  EXPECT_EQ(ec, errc::file_replaced);
  if constexpr (std::is_same_v<P, FileBackedMemory>) {
    opened->pool.flush_full(ec);
    EXPECT_EQ(ec, errc::file_replaced);
  }
}

TYPED_TEST(FilePool, ErrorsLeakNoDescriptors) {
  this->make_saved_pool(4096, 1);
  const std::size_t before = testing::open_descriptors();
  for (int i = 0; i < 20; ++i) {
    EXPECT_THROW(TypeParam::open(this->dir_, 4096, 2), Error);
    EXPECT_THROW(TypeParam::open(this->dir_, 8192, 1), Error);
    EXPECT_THROW(TypeParam::create(this->dir_, 4096), Error);
  }
  EXPECT_EQ(testing::open_descriptors(), before);
}

TYPED_TEST(FilePool, DescriptorsAreCloseOnExec) {
  auto pool = TypeParam::create(this->dir_, 4096);
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (ec || target.parent_path() != this->dir_.path()) continue;
    const int fd = std::stoi(entry.path().filename().string());
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << target;
    ++checked;
  }
  EXPECT_GE(checked, 1u);
}

// A read-only open serves the snapshot and writes nothing: the files' bytes,
// names and times stay as they were, other read-only opens may share the
// file, a writer may not, and saves are refused.
TYPED_TEST(FilePool, ReadOnlyOpenServesTheSnapshotAndWritesNothing) {
  constexpr std::size_t kSize = 3 * 4096 + 77;
  this->make_saved_pool(kSize, 5, 9);
  const auto files_before = [&] {
    std::vector<std::pair<std::string, std::vector<std::byte>>> files;
    for (const auto& entry : std::filesystem::directory_iterator(this->dir_.path())) {
      files.emplace_back(entry.path().filename().string(), testing::read_file(entry.path()));
    }
    std::sort(files.begin(), files.end());
    return files;
  };
  const auto before = files_before();
  FileOptions read_only;
  read_only.read_only = true;
  {
    auto pool = TypeParam::open(this->dir_, kSize, 5, read_only);
    this->expect_contents(pool, kSize, 9);
    auto second = TypeParam::open(this->dir_, kSize, 5, read_only);  // shared
    EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, kSize, 5), errc::pool_in_use);
    EXPECT_DATATIER_ERROR(pool.flush(), std::errc::operation_not_permitted);
    if constexpr (std::is_same_v<typename TypeParam::Pool, FileBackedMemory>) {
      EXPECT_DATATIER_ERROR(pool.flush_full(), std::errc::operation_not_permitted);
    }
    pool.close();
    EXPECT_TRUE(pool.data().empty());
  }
  EXPECT_EQ(files_before(), before);
  auto writer = TypeParam::open(this->dir_, kSize, 5);  // clean: never marked in use
  this->expect_contents(writer, kSize, 9);
}

TYPED_TEST(FilePool, ReadOnlyCreateIsRefused) {
  FileOptions read_only;
  read_only.read_only = true;
  EXPECT_DATATIER_ERROR(TypeParam::Pool::create(this->path(), 4096, 0, read_only),
                        std::errc::invalid_argument);
  EXPECT_DATATIER_ERROR(TypeParam::Pool::open_or_create(this->path(), 4096, 0, read_only),
                        std::errc::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(this->path()));
}

// open() and flush() report progress, done rising to the total; a progress
// callback that says no cancels them: open() changes nothing, a cancelled
// save leaves the last saved snapshot readable (MmapFile: as unclean), and
// the next save works.
TYPED_TEST(FilePool, ProgressIsReportedAndCancelsOpenAndFlush) {
  constexpr std::size_t kSize = std::size_t{4} << 20;
  this->make_saved_pool(kSize, 0, 5);
  const auto file_before = testing::read_file(this->path());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reports;
  bool cancel = false;
  FileOptions options;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    reports.emplace_back(done, total);
    return !cancel;
  };
  cancel = true;
  EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, kSize, 0, options),
                        std::errc::operation_canceled);
  EXPECT_EQ(reports.size(), 1u);
  EXPECT_EQ(testing::read_file(this->path()), file_before);

  cancel = false;
  reports.clear();
  auto pool = TypeParam::open(this->dir_, kSize, 0, options);
  ASSERT_GE(reports.size(), 2u);
  for (std::size_t i = 1; i < reports.size(); ++i) {
    EXPECT_GE(reports[i].first, reports[i - 1].first);
  }
  EXPECT_EQ(reports.back().first, reports.back().second);
  EXPECT_EQ(reports.back().second, kSize);

  testing::fill_splitmix64(pool.data(), 6);
  cancel = true;
  EXPECT_DATATIER_ERROR(pool.flush(), std::errc::operation_canceled);
  cancel = false;
  {
    auto released = std::move(pool);  // without a save
  }
  FileOptions unclean;
  unclean.accept_unclean = true;
  if constexpr (std::is_same_v<typename TypeParam::Pool, FileBackedMemory>) {
    auto previous = TypeParam::open(this->dir_, kSize, 0, unclean);
    this->expect_contents(previous, kSize, 5);
  } else {
    // The data went back to the file; the header is the last save's.
    EXPECT_DATATIER_ERROR(TypeParam::open(this->dir_, kSize, 0, unclean), errc::checksum_mismatch);
  }
  // A save after a cancelled one is whole and right.
  std::filesystem::remove(this->path());
  std::filesystem::remove(FileBackedMemory::spare_path(this->path()));
  std::filesystem::remove(FileBackedMemory::index_path(this->path()));
  std::filesystem::remove(FileBackedMemory::index_path(FileBackedMemory::spare_path(this->path())));
  this->make_saved_pool(kSize, 0, 5);
  {
    auto again = TypeParam::open(this->dir_, kSize, 0, options);
    testing::fill_splitmix64(again.data(), 7);
    cancel = true;
    EXPECT_DATATIER_ERROR(again.flush(), std::errc::operation_canceled);
    cancel = false;
    again.close();
  }
  this->expect_contents(TypeParam::open(this->dir_, kSize, 0), kSize, 7);
}

}  // namespace
}  // namespace datatier
