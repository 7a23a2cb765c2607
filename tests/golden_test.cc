// Files written by the reference implementation open here, and pools written
// here match them.
#include <gtest/gtest.h>

#include "datatier/datatier.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

struct GoldenFile {
  const char* name;
  std::size_t data_size;
  std::uint64_t user_version;
  std::uint64_t seed;
};

constexpr GoldenFile kGoldenFiles[] = {
    {"mmap_8192_uv0_seed1.pool", 8192, 0, 1},
    {"fbm_8192_uv7_seed2.pool", 8192, 7, 2},
    {"mmap_65536_uv42_seed3.pool", 65536, 42, 3},
};

class Golden : public ::testing::TestWithParam<GoldenFile> {
 protected:
  // open() marks a file in use, so tests work on a copy.
  std::filesystem::path copy() const {
    const auto target = dir_ / GetParam().name;
    std::filesystem::copy_file(testing::golden(GetParam().name), target);
    return target;
  }

  void expect_generator_bytes(std::span<const std::byte> data) const {
    ASSERT_EQ(data.size(), GetParam().data_size);
    const auto expected = testing::splitmix64_bytes(data.size(), GetParam().seed);
    for (std::size_t i = 0; i < data.size(); ++i) {
      ASSERT_EQ(data[i], expected[i]) << "data byte " << i;
    }
  }

  testing::TempDir dir_;
};

TEST_P(Golden, OpensAsMmapFileWithEveryByteFromTheGenerator) {
  const auto pool = MmapFile::open(copy(), GetParam().data_size, GetParam().user_version);
  expect_generator_bytes(pool.data());
}

TEST_P(Golden, OpensAsFileBackedMemoryWithEveryByteFromTheGenerator) {
  const auto pool = FileBackedMemory::open(copy(), GetParam().data_size, GetParam().user_version);
  expect_generator_bytes(pool.data());
}

TEST_P(Golden, VerifiesWithoutBeingTold) {
  const auto report = verify_file(testing::golden(GetParam().name));
  EXPECT_TRUE(report.ok()) << report.message;
  EXPECT_EQ(report.data_size, GetParam().data_size);
}

TEST_P(Golden, RejectsAnotherUserVersion) {
  EXPECT_DATATIER_ERROR(MmapFile::open(copy(), GetParam().data_size, GetParam().user_version + 1),
                        errc::user_version_mismatch);
}

template <typename Pool>
void expect_written_pool_matches_golden(const GoldenFile& golden,
                                        const std::filesystem::path& path) {
  {
    auto pool = Pool::create(path, golden.data_size, golden.user_version);
    testing::fill_splitmix64(pool.data(), golden.seed);
    pool.close();
  }
  const auto ours = testing::read_file(path);
  const auto theirs = testing::read_file(testing::golden(golden.name));
  ASSERT_EQ(ours.size(), theirs.size());
  EXPECT_TRUE(std::equal(ours.begin() + kHeaderSize, ours.end(), theirs.begin() + kHeaderSize))
      << "data regions differ";
  const auto header_of = [](const std::vector<std::byte>& file) {
    return decode_header(std::span<const std::byte, kHeaderSize>(file.data(), kHeaderSize));
  };
  Header mine = header_of(ours);
  Header reference = header_of(theirs);
  // Only the moment of the save, and so the checksum, may differ.
  for (Header* h : {&mine, &reference}) {
    h->checksum = {};
    h->time_monotonic_s = h->time_unix_s = 0;
    h->time_monotonic_ns = h->time_unix_ns = 0;
  }
  EXPECT_EQ(mine, reference);
  // Past the fields, both headers are zero padding.
  EXPECT_TRUE(std::equal(ours.begin() + 96, ours.begin() + kHeaderSize, theirs.begin() + 96));
}

TEST_P(Golden, MmapFileWritesTheSameFile) {
  expect_written_pool_matches_golden<MmapFile>(GetParam(), dir_ / "mine.pool");
}

TEST_P(Golden, FileBackedMemoryWritesTheSameFile) {
  expect_written_pool_matches_golden<FileBackedMemory>(GetParam(), dir_ / "mine.pool");
}

INSTANTIATE_TEST_SUITE_P(ReferenceFiles, Golden, ::testing::ValuesIn(kGoldenFiles),
                         [](const auto& param_info) {
                           std::string name = param_info.param.name;
                           return name.substr(0, name.find('.'));
                         });

// The reference's own defect B1: a 5000-byte MmapFile whose flush hashed all
// 8192 bytes of its pages. Opened as 5000 bytes the checksum cannot match;
// this library reports that instead of serving the bytes.
TEST(GoldenBug, ReferenceB1FileIsRejectedAtItsNominalSize) {
  testing::TempDir dir;
  const auto path = dir / "bug.pool";
  std::filesystem::copy_file(testing::golden("extra/mmap_5000_uv0_seed1_BUG.pool"), path);
  EXPECT_DATATIER_ERROR(MmapFile::open(path, 5000, 0), errc::checksum_mismatch);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(path, 5000, 0), errc::checksum_mismatch);
  // Read as the whole pages it really checksummed, it is intact.
  const auto pool = MmapFile::open(path, 8192, 0);
  const auto expected = testing::splitmix64_bytes(8192, 1);
  EXPECT_TRUE(std::equal(pool.data().begin(), pool.data().end(), expected.begin()));
}

}  // namespace
}  // namespace datatier
