// platform::Mapping: dropping page-table entries keeps a shared mapping's
// bytes, dirty ones included, and never touches anonymous memory; faulting a
// file's pages in for reading brings them into memory without dirtying them.
#include "platform/mapping.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "platform/file.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier::platform {
namespace {

constexpr std::size_t kBytes = std::size_t{1} << 20;

std::byte pattern(std::size_t i) {
  return static_cast<std::byte>((i * 131 + 7) % 251);
}

TEST(MappingTest, DroppingEntriesOfASharedMappingKeepsDirtyBytes) {
  testing::TempDir dir;
  const File file = File::create_new(dir / "f", 0600);
  file.allocate(kBytes);
  const Mapping mapping = Mapping::shared(file, kBytes);
  const auto bytes = mapping.bytes();
  for (std::size_t i = 0; i < kBytes; ++i) bytes[i] = pattern(i);

  // An unaligned range: the whole pages around it go, the bytes stay.
  mapping.drop_page_table_entries(100, kBytes / 2);
  for (std::size_t i = 0; i < kBytes; ++i) ASSERT_EQ(bytes[i], pattern(i)) << i;

  // The bytes written before the drop still reach the file.
  mapping.drop_page_table_entries(0, kBytes);
  mapping.sync(0, kBytes, file.path());
  std::vector<std::byte> read(kBytes);
  File::open(file.path(), File::Access::read_only).read_exact(read, 0);
  for (std::size_t i = 0; i < kBytes; ++i) ASSERT_EQ(read[i], pattern(i)) << i;

  // And the mapping stays writable.
  bytes[5] = std::byte{0xee};
  EXPECT_EQ(bytes[5], std::byte{0xee});
}

TEST(MappingTest, DroppingEntriesOfAnonymousMemoryChangesNothing) {
  const Mapping mapping = Mapping::anonymous(kBytes, PageSize::small);
  const auto bytes = mapping.bytes();
  for (std::size_t i = 0; i < kBytes; ++i) bytes[i] = pattern(i);
  mapping.drop_page_table_entries(0, kBytes);
  for (std::size_t i = 0; i < kBytes; ++i) ASSERT_EQ(bytes[i], pattern(i)) << i;
}

// Faulting in for reading leaves a new file's pages in the page cache and
// clean (nothing for the kernel to write back); for writing, dirty.
TEST(MappingTest, PopulatingForReadingLeavesTheFilesPagesClean) {
  if (!testing::kernel_has_cachestat()) GTEST_SKIP() << "this kernel has no cachestat(2)";
  testing::TempDir dir;
  const File file = File::create_new(dir / "f", 0600);
  file.allocate(2 * kBytes);
  const Mapping mapping = Mapping::shared(file, 2 * kBytes);
  mapping.populate(0, kBytes, Mapping::Use::reading);
  EXPECT_TRUE(file.in_page_cache(0, kBytes));
  EXPECT_FALSE(file.may_have_dirty_pages(0, kBytes));
  mapping.populate(kBytes, kBytes, Mapping::Use::writing);
  EXPECT_TRUE(file.may_have_dirty_pages(kBytes, kBytes));
  // Still writable after faulting in for reading.
  mapping.bytes()[10] = std::byte{1};
  EXPECT_TRUE(file.may_have_dirty_pages(0, kBytes));
}

}  // namespace
}  // namespace datatier::platform
