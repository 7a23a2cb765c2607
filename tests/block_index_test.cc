// The block index: incremental saves of FileBackedMemory give the same file a
// whole save gives (its checksum the official BLAKE3 of it), write only the
// blocks that changed, never trust an index that does not vouch for its file,
// and name damaged data to the block.
#include "block_index.h"

#include <gtest/gtest.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "checksum.h"
#include "datatier/datatier.h"
#include "official_blake3.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

constexpr std::size_t kBlock = 4096;
// 80 blocks of data and a partial page: the last block ends early.
constexpr std::size_t kDataSize = 80 * kBlock + 1000;
constexpr std::uint64_t kUserVersion = 3;

FileOptions options_for(Changes changes) {
  FileOptions options;
  options.block_size = kBlock;
  options.changes = changes;
  return options;
}

// The stream offset of data byte `offset` is offset + 4096: its block.
std::uint64_t block_of(std::uint64_t offset) {
  return (offset + kHeaderSize) / kBlock;
}

// The checksum the file's header records is the official BLAKE3 of the
// file's covered header and data, as stored.
void expect_official_checksum(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = testing::read_file(path);
  ASSERT_GE(bytes.size(), kHeaderSize + kDataSize);
  const std::span<const std::byte, kHeaderSize> header(bytes.data(), kHeaderSize);
  const Checksum expected = testing::official_blake3(
      detail::covered_header(header), std::span(bytes).subspan(kHeaderSize, kDataSize));
  EXPECT_EQ(detail::to_hex(decode_header(header).checksum), detail::to_hex(expected));
}

// Bytes written with pwrite while alive, all descriptors together.
class WriteCounter {
 public:
  WriteCounter() {
    written() = 0;
    platform::syscalls().pwrite = counting_pwrite;
  }
  WriteCounter(const WriteCounter&) = delete;
  WriteCounter& operator=(const WriteCounter&) = delete;
  ~WriteCounter() { platform::syscalls().pwrite = platform::real_syscalls().pwrite; }
  std::uint64_t bytes() const { return written().load(); }

 private:
  static std::atomic<std::uint64_t>& written() {
    static std::atomic<std::uint64_t> bytes{0};
    return bytes;
  }
  static ssize_t counting_pwrite(int fd, const void* buf, std::size_t count, off_t offset) {
    const ssize_t put = platform::real_syscalls().pwrite(fd, buf, count, offset);
    if (put > 0) written() += static_cast<std::uint64_t>(put);
    return put;
  }
};

// The most a save that writes `blocks` data blocks may write: those, block
// 0 (the header's), the header, the tail of the last page and the index.
std::uint64_t save_bound(std::uint64_t blocks) {
  const std::uint64_t count = (kHeaderSize + kDataSize + kBlock - 1) / kBlock;
  return (blocks + 1) * kBlock + kHeaderSize + kHeaderSize + 64 + 32 * count;
}

class BlockIndexTest : public ::testing::TestWithParam<Changes> {
 protected:
  std::filesystem::path path() const { return dir_ / "pool"; }
  FileOptions options() const { return options_for(GetParam()); }

  // A pool saved twice, so that each file holds a snapshot and an index.
  FileBackedMemory saved_twice() {
    FileBackedMemory pool = FileBackedMemory::create(path(), kDataSize, kUserVersion, options());
    testing::fill_splitmix64(pool.data(), 11);
    expected_.assign(pool.data().begin(), pool.data().end());
    pool.flush();
    pool.flush();
    return pool;
  }

  // Changes `count` bytes at random places, marking each, in the pool and
  // in expected_.
  void change(FileBackedMemory& pool, int count) {
    std::uniform_int_distribution<std::size_t> where(0, kDataSize - 1);
    for (int i = 0; i < count; ++i) {
      const std::size_t at = where(random_);
      const auto value = static_cast<std::byte>(random_() | 1);
      pool.data()[at] ^= value;
      expected_[at] ^= value;
      pool.mark_dirty(at, 1);
    }
  }

  bool holds_expected(std::span<const std::byte> data) const {
    return std::equal(data.begin(), data.end(), expected_.begin(), expected_.end());
  }

  testing::TempDir dir_;
  std::vector<std::byte> expected_;
  std::mt19937_64 random_{42};
};

TEST_P(BlockIndexTest, IncrementalSavesGiveTheOfficialChecksumAndKeepEveryByte) {
  {
    FileBackedMemory pool = saved_twice();
    for (int round = 0; round < 25; ++round) {
      change(pool, 1 + round % 7);
      pool.flush();
      expect_official_checksum(path());
    }
    pool.close();
  }
  expect_official_checksum(path());
  EXPECT_TRUE(verify_file(path()).ok());
  const FileBackedMemory reopened = FileBackedMemory::open(path(), kDataSize, kUserVersion);
  EXPECT_TRUE(holds_expected(reopened.data()));
}

TEST_P(BlockIndexTest, SavesWriteOnlyTheBlocksThatChanged) {
  FileBackedMemory pool = saved_twice();
  // Three blocks, far apart.
  for (const std::size_t at :
       {std::size_t{10} * kBlock + 7, std::size_t{40} * kBlock, std::size_t{79} * kBlock + 100}) {
    pool.data()[at] ^= std::byte{0x5a};
    pool.mark_dirty(at, 1);
  }
  std::uint64_t first = 0;
  {
    const WriteCounter counter;
    pool.flush();
    first = counter.bytes();
  }
  EXPECT_LE(first, save_bound(3));
  // The spare now holds the snapshot before those changes: the next save
  // writes them again, and nothing else.
  std::uint64_t second = 0;
  {
    const WriteCounter counter;
    pool.flush();
    second = counter.bytes();
  }
  EXPECT_LE(second, save_bound(3));
  expect_official_checksum(path());
  // Then nothing changed between the two files but the header.
  const WriteCounter counter;
  pool.flush();
  EXPECT_LE(counter.bytes(), save_bound(0));
}

TEST_P(BlockIndexTest, TheFirstSaveAfterOpenIsIncremental) {
  saved_twice().close();
  FileBackedMemory pool = FileBackedMemory::open(path(), kDataSize, kUserVersion, options());
  change(pool, 2);
  const WriteCounter counter;
  pool.flush();
  // The spare holds the snapshot of the save before the last: the close()
  // wrote nothing new, so only the header's block and the changes differ.
  EXPECT_LE(counter.bytes(), save_bound(2));
  expect_official_checksum(path());
  EXPECT_TRUE(holds_expected(pool.data()));
}

TEST_P(BlockIndexTest, FlushFullWritesEveryBlock) {
  FileBackedMemory pool = saved_twice();
  change(pool, 1);
  const WriteCounter counter;
  pool.flush_full();
  EXPECT_GE(counter.bytes(), kDataSize);
  expect_official_checksum(path());
}

TEST_P(BlockIndexTest, TheIndexIsThirtyTwoBytesPerBlock) {
  saved_twice().close();
  const std::uint64_t blocks = (kHeaderSize + kDataSize + kBlock - 1) / kBlock;
  EXPECT_EQ(std::filesystem::file_size(FileBackedMemory::index_path(path())), 64 + 32 * blocks);
  EXPECT_EQ(std::filesystem::file_size(
                FileBackedMemory::index_path(FileBackedMemory::spare_path(path()))),
            64 + 32 * blocks);
}

// Whatever is wrong with an index, the save is whole and right.
TEST_P(BlockIndexTest, ADamagedStaleOrForeignIndexOnlyCostsAWholeSave) {
  const auto spare_index = FileBackedMemory::index_path(FileBackedMemory::spare_path(path()));
  const std::vector<std::function<void()>> spoil = {
      [&] { testing::flip_byte(spare_index, 64 + 32 * 7 + 3); },  // a value
      [&] { testing::flip_byte(spare_index, 30); },               // the root
      [&] { std::filesystem::resize_file(spare_index, 64 + 32 * 5); },
      [&] {  // another pool's index, of the same size
        const auto other = dir_ / "other";
        FileBackedMemory pool = FileBackedMemory::create(other, kDataSize, kUserVersion, options());
        pool.flush();
        pool.flush();
        pool.close();
        std::filesystem::copy_file(FileBackedMemory::index_path(other), spare_index,
                                   std::filesystem::copy_options::overwrite_existing);
      },
      [&] {  // the pool's own index, beside the spare
        std::filesystem::copy_file(FileBackedMemory::index_path(path()), spare_index,
                                   std::filesystem::copy_options::overwrite_existing);
      },
  };
  for (std::size_t i = 0; i < spoil.size(); ++i) {
    SCOPED_TRACE("spoiled index " + std::to_string(i));
    saved_twice().close();
    spoil[i]();
    {
      FileBackedMemory pool = FileBackedMemory::open(path(), kDataSize, kUserVersion, options());
      change(pool, 1);
      const WriteCounter counter;
      pool.flush();
      EXPECT_GE(counter.bytes(), kDataSize);
      pool.close();
    }
    expect_official_checksum(path());
    const FileBackedMemory reopened = FileBackedMemory::open(path(), kDataSize, kUserVersion);
    EXPECT_TRUE(holds_expected(reopened.data()));
    for (const auto& name : {path(), FileBackedMemory::spare_path(path())}) {
      std::filesystem::remove(name);
      std::filesystem::remove(FileBackedMemory::index_path(name));
    }
  }
}

TEST_P(BlockIndexTest, DamagedDataIsNamedToTheBlock) {
  saved_twice().close();
  const std::uint64_t at = 30 * kBlock + 5;
  testing::flip_byte(path(), kHeaderSize + at);
  const ByteRange range{block_of(at) * kBlock - kHeaderSize, kBlock};
  try {
    FileBackedMemory::open(path(), kDataSize, kUserVersion, options());
    ADD_FAILURE() << "a damaged file opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::checksum_mismatch);
    EXPECT_NE(std::string(e.what()).find(std::to_string(range.offset) + "+" +
                                         std::to_string(range.length)),
              std::string::npos)
        << e.what();
  }
  const VerifyReport report = verify_file(path());
  EXPECT_EQ(report.error, errc::checksum_mismatch);
  EXPECT_EQ(report.damaged, std::vector<ByteRange>{range});
}

TEST_P(BlockIndexTest, SalvageZeroesTheDamagedBlocksAndKeepsTheRest) {
  saved_twice().close();
  const std::uint64_t first = 20 * kBlock + 9;
  const std::uint64_t last = kDataSize - 3;  // in the short last block
  testing::flip_byte(path(), kHeaderSize + first);
  testing::flip_byte(path(), kHeaderSize + last);
  const ByteRange first_range{block_of(first) * kBlock - kHeaderSize, kBlock};
  const std::uint64_t last_begin = block_of(last) * kBlock - kHeaderSize;
  const ByteRange last_range{last_begin, kDataSize - last_begin};
  FileOptions salvage = options();
  salvage.salvage = true;
  {
    FileBackedMemory pool = FileBackedMemory::open(path(), kDataSize, kUserVersion, salvage);
    ASSERT_EQ(pool.damaged(), (std::vector<ByteRange>{first_range, last_range}));
    for (const ByteRange& range : pool.damaged()) {
      std::fill_n(expected_.begin() + static_cast<std::ptrdiff_t>(range.offset), range.length,
                  std::byte{0});
    }
    EXPECT_TRUE(holds_expected(pool.data()));
    pool.flush();
    pool.flush();
    pool.close();
  }
  expect_official_checksum(path());
  const FileBackedMemory reopened = FileBackedMemory::open(path(), kDataSize, kUserVersion);
  EXPECT_TRUE(holds_expected(reopened.data()));
  EXPECT_TRUE(reopened.damaged().empty());
}

TEST_P(BlockIndexTest, DamageInTheHeadersBlockIsNotSalvaged) {
  saved_twice().close();
  testing::flip_byte(path(), 3000);  // in the user area: block 0 is the header
  FileOptions salvage = options();
  salvage.salvage = true;
  EXPECT_THROW(FileBackedMemory::open(path(), kDataSize, kUserVersion, salvage), Error);
}

std::string changes_name(const ::testing::TestParamInfo<Changes>& param) {
  return param.param == Changes::compare ? "compare" : "marked";
}

INSTANTIATE_TEST_SUITE_P(Changes, BlockIndexTest,
                         ::testing::Values(Changes::compare, Changes::marked), changes_name);

// With marks, a write nobody marked is not saved; the snapshot still
// verifies, and holds what the bytes were before.
TEST(BlockIndex, UnmarkedWritesAreMissingFromAMarkedSaveWhichStillVerifies) {
  testing::TempDir dir;
  const auto path = dir / "pool";
  {
    FileBackedMemory pool =
        FileBackedMemory::create(path, kDataSize, kUserVersion, options_for(Changes::marked));
    pool.flush();
    pool.flush();
    pool.data()[50 * kBlock] = std::byte{7};  // not marked
    pool.data()[60 * kBlock] = std::byte{8};
    pool.mark_dirty(60 * kBlock, 1);
    pool.close();
  }
  expect_official_checksum(path);
  const FileBackedMemory reopened = FileBackedMemory::open(path, kDataSize, kUserVersion);
  EXPECT_EQ(reopened.data()[50 * kBlock], std::byte{0});
  EXPECT_EQ(reopened.data()[60 * kBlock], std::byte{8});
}

// An MmapFile with marks hashes only the marked blocks again: after any
// sequence of marked flushes its checksum is the official BLAKE3 of the file.
TEST(BlockIndex, MarkedMmapFileFlushesGiveTheOfficialChecksum) {
  testing::TempDir dir;
  const auto path = dir / "pool";
  std::mt19937_64 random(7);
  std::uniform_int_distribution<std::size_t> where(0, kDataSize - 1);
  {
    MmapFile pool = MmapFile::create(path, kDataSize, kUserVersion, options_for(Changes::marked));
    testing::fill_splitmix64(pool.data(), 3);
    pool.flush();
    for (int round = 0; round < 10; ++round) {
      for (int i = 0; i < 3; ++i) {
        const std::size_t at = where(random);
        pool.data()[at] ^= std::byte{0x33};
        pool.mark_dirty(at, 1);
      }
      pool.flush();
      expect_official_checksum(path);
    }
    pool.close();
  }
  expect_official_checksum(path);
  // Reopened, the values are hashed from the file again.
  MmapFile pool = MmapFile::open(path, kDataSize, kUserVersion, options_for(Changes::marked));
  pool.data()[kDataSize - 1] ^= std::byte{1};
  pool.mark_dirty(kDataSize - 1, 1);
  pool.close();
  expect_official_checksum(path);
}

TEST(BlockIndex, AnUnmarkedWriteToAMarkedMmapFileIsFoundAtOpen) {
  testing::TempDir dir;
  const auto path = dir / "pool";
  {
    MmapFile pool = MmapFile::create(path, kDataSize, kUserVersion, options_for(Changes::marked));
    pool.flush();
    pool.data()[20 * kBlock] = std::byte{9};  // written back, never hashed
    pool.close();
  }
  try {
    MmapFile::open(path, kDataSize, kUserVersion);
    ADD_FAILURE() << "a file whose checksum leaves out a write opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::checksum_mismatch) << e.what();
  }
}

TEST(BlockIndex, MarksPastTheEndAreIgnored) {
  testing::TempDir dir;
  FileBackedMemory pool =
      FileBackedMemory::create(dir / "pool", kDataSize, kUserVersion, options_for(Changes::marked));
  pool.mark_dirty(kDataSize - 1, 1000000);
  pool.mark_dirty(kDataSize, 1);
  pool.mark_dirty(~std::size_t{0}, ~std::size_t{0});
  pool.flush();
  expect_official_checksum(dir / "pool");
}

TEST(BlockIndex, BlockSizesOtherThanPowersOfTwoFromFourKibibytesAreRefused) {
  testing::TempDir dir;
  for (const std::size_t size :
       {std::size_t{1000}, std::size_t{2048}, std::size_t{12288}, std::size_t{32} << 20}) {
    FileOptions options;
    options.block_size = size;
    EXPECT_THROW(FileBackedMemory::create(dir / "pool", kDataSize, kUserVersion, options), Error)
        << size;
    EXPECT_FALSE(std::filesystem::exists(dir / "pool"));
  }
}

// A pool of one block has no index: every save is whole, and right.
TEST(BlockIndex, APoolOfOneBlockSavesWhole) {
  testing::TempDir dir;
  const auto path = dir / "pool";
  FileBackedMemory pool = FileBackedMemory::create(path, 1000, kUserVersion);
  pool.data()[3] = std::byte{1};
  pool.flush();
  pool.flush();
  pool.close();
  EXPECT_FALSE(std::filesystem::exists(FileBackedMemory::index_path(path)));
  EXPECT_EQ(FileBackedMemory::open(path, 1000, kUserVersion).data()[3], std::byte{1});
}

}  // namespace
}  // namespace datatier
