// verify_file() and read_header(): read-only verdicts on pool files.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

#include "datatier/datatier.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

class Verify : public ::testing::Test {
 protected:
  std::filesystem::path saved_pool(std::size_t size, std::uint64_t user_version = 3) {
    const auto path = dir_ / "pool";
    auto pool = FileBackedMemory::create(path, size, user_version);
    testing::fill_splitmix64(pool.data(), 4);
    pool.flush();
    return path;
  }

  testing::TempDir dir_;
};

TEST_F(Verify, IntactPoolIsOk) {
  const auto path = saved_pool(100'000);
  const auto report = verify_file(path);
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(report.data_size, 100'000u);  // recorded in the header
  EXPECT_EQ(report.file_size, *pool_file_size(100'000));
  ASSERT_TRUE(report.header.has_value());
  EXPECT_EQ(report.header->user_version, 3u);
  ASSERT_TRUE(report.computed_checksum.has_value());
  EXPECT_EQ(*report.computed_checksum, report.header->checksum);
}

TEST_F(Verify, DoesNotChangeTheFile) {
  const auto path = saved_pool(8192);
  const auto before = testing::read_file(path);
  VerifyOptions options;
  options.accept_unclean = true;
  EXPECT_TRUE(verify_file(path, options).ok());
  EXPECT_EQ(testing::read_file(path), before);
}

// A live owner may be saving into the file: its state is no verdict on the
// file, and verify says "in use" instead of calling it corrupt or unclean.
TEST_F(Verify, FileHeldByAPoolIsInUseAndNotRead) {
  const auto path = saved_pool(8192);
  for (const bool mmap : {false, true}) {
    SCOPED_TRACE(mmap);
    std::optional<FileBackedMemory> fbm;
    std::optional<MmapFile> mapped;
    if (mmap) {
      mapped.emplace(MmapFile::open(path, 8192, 3, {}));
    } else {
      fbm.emplace(FileBackedMemory::open(path, 8192, 3));
    }
    const auto marked = testing::read_file(path);
    VerifyOptions options;
    options.accept_unclean = true;
    const auto report = verify_file(path, options);
    EXPECT_EQ(report.error, errc::pool_in_use) << report.message;
    EXPECT_FALSE(report.computed_checksum);
    EXPECT_EQ(testing::read_file(path), marked);
    if (mmap) {
      mapped->close();
    } else {
      fbm->close();
    }
  }
}

// While verify reads a file, no pool takes it (and saves into it).
TEST_F(Verify, PoolCannotOpenAFileBeingVerified) {
  const auto path = saved_pool(std::size_t{64} << 20);
  std::atomic<bool> verifying{true};
  std::thread opener([&] {
    while (verifying.load()) {
      try {
        // Each save rewrites the whole file under the pool's name.
        auto pool = FileBackedMemory::open(path, std::size_t{64} << 20, 3);
        pool.close();
      } catch (const Error& e) {
        ASSERT_EQ(e.code(), errc::pool_in_use) << e.what();
      }
    }
  });
  for (int i = 0; i < 5; ++i) {
    const auto report = verify_file(path);
    EXPECT_TRUE(report.ok() || report.error == errc::pool_in_use) << report.message;
  }
  verifying = false;
  opener.join();
  EXPECT_TRUE(verify_file(path).ok());
}

TEST_F(Verify, ReportsTheFirstFailedCheck) {
  const auto path = saved_pool(8192);
  testing::flip_byte(path, kHeaderSize + 10);
  auto report = verify_file(path);
  EXPECT_EQ(report.error, errc::checksum_mismatch);
  EXPECT_NE(report.message.find("stored checksum"), std::string::npos);

  VerifyOptions options;
  options.user_version = 4;
  report = verify_file(path, options);
  EXPECT_EQ(report.error, errc::user_version_mismatch);
  EXPECT_EQ(report.message, "expected user version 4, found 3");

  options = {};
  options.data_size = 4096;
  report = verify_file(path, options);
  EXPECT_EQ(report.error, errc::size_mismatch);
}

TEST_F(Verify, ShortFileIsASizeMismatchNotACrash) {
  const auto path = dir_ / "short";
  testing::write_file(path, std::vector<std::byte>(100, std::byte{1}));
  const auto report = verify_file(path);
  EXPECT_EQ(report.error, errc::size_mismatch);
  EXPECT_FALSE(report.header.has_value());
  EXPECT_DATATIER_ERROR(read_header(path), errc::size_mismatch);
}

TEST_F(Verify, UncleanFileIsItsOwnVerdict) {
  { auto pool = MmapFile::create(dir_ / "pool", 4096, 0); }
  EXPECT_EQ(verify_file(dir_ / "pool").error, errc::unclean_shutdown);
}

TEST_F(Verify, ReportsProgressUpToTheTotal) {
  const auto path = saved_pool(20 << 20);
  std::uint64_t last = 0;
  std::uint64_t total = 0;
  int calls = 0;
  VerifyOptions options;
  options.progress = [&](std::uint64_t done, std::uint64_t all) {
    EXPECT_GE(done, last);
    last = done;
    total = all;
    ++calls;
    return true;
  };
  const auto report = verify_file(path, options);
  EXPECT_TRUE(report.ok());
  EXPECT_GE(calls, 2);
  EXPECT_EQ(last, std::uint64_t{20} << 20);
  EXPECT_EQ(total, std::uint64_t{20} << 20);
  // Cancelled after the first report.
  options.progress = [](std::uint64_t, std::uint64_t) { return false; };
  EXPECT_DATATIER_ERROR(verify_file(path, options), std::errc::operation_canceled);
}

TEST_F(Verify, MissingFileThrowsWithErrno) {
  EXPECT_DATATIER_ERROR(verify_file(dir_ / "missing"), std::errc::no_such_file_or_directory);
  EXPECT_DATATIER_ERROR(read_header(dir_ / "missing"), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace datatier
