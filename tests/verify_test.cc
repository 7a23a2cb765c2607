// verify_file() and read_header(): read-only verdicts on pool files.
#include <gtest/gtest.h>

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

TEST_F(Verify, DoesNotChangeOrLockTheFile) {
  const auto path = saved_pool(8192);
  const auto before = testing::read_file(path);
  auto held = FileBackedMemory::open(path, 8192, 3);
  const auto marked = testing::read_file(path);
  VerifyOptions options;
  options.accept_unclean = true;
  const auto report = verify_file(path, options);
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(testing::read_file(path), marked);
  EXPECT_NE(before, marked);  // the holder's in-use mark
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
  };
  const auto report = verify_file(path, options);
  EXPECT_TRUE(report.ok());
  EXPECT_GE(calls, 2);
  EXPECT_EQ(last, std::uint64_t{20} << 20);
  EXPECT_EQ(total, std::uint64_t{20} << 20);
}

TEST_F(Verify, MissingFileThrowsWithErrno) {
  EXPECT_DATATIER_ERROR(verify_file(dir_ / "missing"), std::errc::no_such_file_or_directory);
  EXPECT_DATATIER_ERROR(read_header(dir_ / "missing"), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace datatier
