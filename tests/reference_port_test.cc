// The reference implementation's own four tests, ported.
#include <gtest/gtest.h>

#include <array>

#include "datatier/datatier.h"
#include "temp_dir.h"

namespace datatier {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::array<std::byte, 4> kMagicA = {std::byte{0xDE}, std::byte{0xCA}, std::byte{0xFB},
                                              std::byte{0xAD}};
constexpr std::array<std::byte, 8> kMagicB = {std::byte{0xBA}, std::byte{0xDC}, std::byte{0x0F},
                                              std::byte{0xFE}, std::byte{0xEB}, std::byte{0xAD},
                                              std::byte{0xCA}, std::byte{0xFE}};

TEST(ReferencePort, HeaderIsOnePage) {
  EXPECT_EQ(kHeaderSize, kPage);
}

TEST(ReferencePort, MemoryDatapool) {
  const Memory pool = Memory::create(2 * kPage);
  EXPECT_EQ(pool.size(), 2 * kPage);
}

// The reference's mmapfile_datapool and filebackedmemory_datapool tests are
// one scenario run on both file pools.
template <typename Pool>
void write_reopen_update_scenario() {
  testing::TempDir dir;
  const auto path = dir / "mmap_test.data";
  {
    Pool pool = Pool::create(path, 2 * kPage, 0);
    EXPECT_EQ(pool.size(), 2 * kPage);
    pool.flush();
    std::copy(kMagicA.begin(), kMagicA.end(), pool.data().begin());
    pool.close();
  }
  {
    Pool pool = Pool::open(path, 2 * kPage, 0);
    EXPECT_EQ(pool.size(), 2 * kPage);
    EXPECT_TRUE(std::equal(kMagicA.begin(), kMagicA.end(), pool.data().begin()));
    for (std::size_t i = 4; i < 8; ++i) EXPECT_EQ(pool.data()[i], std::byte{0});
    std::copy(kMagicB.begin(), kMagicB.end(), pool.data().begin());
    pool.close();
  }
  {
    Pool pool = Pool::open(path, 2 * kPage, 0);
    EXPECT_EQ(pool.size(), 2 * kPage);
    EXPECT_TRUE(std::equal(kMagicB.begin(), kMagicB.end(), pool.data().begin()));
  }
  EXPECT_THROW(Pool::open(path, 2 * kPage, 1), Error);
}

TEST(ReferencePort, MmapFileDatapool) {
  write_reopen_update_scenario<MmapFile>();
}

TEST(ReferencePort, FileBackedMemoryDatapool) {
  write_reopen_update_scenario<FileBackedMemory>();
}

}  // namespace
}  // namespace datatier
