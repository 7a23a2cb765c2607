// Memory placement: page sizes and their fallback, NUMA policy, locking,
// fault-in threads, and what placement() reports.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "platform/memory_file.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

constexpr std::size_t kSize = std::size_t{16} << 20;

// Free explicit huge pages of the default size, from /proc/meminfo.
std::size_t free_huge_pages() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t value = 0;
  while (meminfo >> key >> value) {
    if (key == "HugePages_Free:") return value;
    meminfo.ignore(256, '\n');
  }
  return 0;
}

// The message of the datatier::Error that Memory::create(kSize, options)
// throws, whose code must be `expected`; "" and a failure if it does not throw.
std::string create_error(const MemoryOptions& options, std::errc expected) {
  try {
    Memory::create(kSize, options);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "Memory::create did not throw";
  return "";
}

void expect_usable(Memory& pool, std::size_t size) {
  ASSERT_EQ(pool.size(), size);
  for (std::byte b : pool.data()) ASSERT_EQ(b, std::byte{0});
  testing::fill_splitmix64(pool.data(), 1);
  const auto expected = testing::splitmix64_bytes(size, 1);
  EXPECT_TRUE(std::equal(pool.data().begin(), pool.data().end(), expected.begin()));
}

TEST(MemoryPlacement, DefaultsToTransparentHugePagesOnAllCores) {
  auto pool = Memory::create(kSize);
  const Placement p = pool.placement();
  EXPECT_EQ(p.page_size, PageSize::transparent);
  EXPECT_EQ(p.page_bytes, 4096u);
  EXPECT_EQ(p.numa, NumaPolicy::local);
  EXPECT_FALSE(p.locked);
  EXPECT_GE(p.threads, 1u);
  expect_usable(pool, kSize);
}

TEST(MemoryPlacement, SmallPagesOnRequest) {
  MemoryOptions options;
  options.page_size = PageSize::small;
  options.threads = 1;
  auto pool = Memory::create(kSize + 5, options);
  EXPECT_EQ(pool.placement().page_size, PageSize::small);
  EXPECT_EQ(pool.placement().threads, 1u);
  expect_usable(pool, kSize + 5);
}

TEST(MemoryPlacement, ExplicitHugePagesFallBackAndSayWhatTheyGot) {
  MemoryOptions options;
  options.page_size = PageSize::huge_1gib;
  auto pool = Memory::create(kSize, options);
  const Placement p = pool.placement();
  if (p.page_size == PageSize::huge_1gib) {
    EXPECT_EQ(p.page_bytes, std::size_t{1} << 30);
  } else if (p.page_size == PageSize::huge_2mib) {
    EXPECT_EQ(p.page_bytes, std::size_t{2} << 20);
  } else {
    EXPECT_EQ(p.page_size, PageSize::transparent);
    EXPECT_EQ(p.page_bytes, 4096u);
  }
  expect_usable(pool, kSize);
}

TEST(MemoryPlacement, ExplicitHugePagesWithoutFallbackFailCleanlyWhenNoneAreFree) {
  if (free_huge_pages() * (std::size_t{2} << 20) >= kSize) {
    GTEST_SKIP() << "this machine has free 2 MiB huge pages; the refusal cannot be provoked";
  }
  MemoryOptions options;
  options.page_size = PageSize::huge_2mib;
  options.fallback = false;
  EXPECT_DATATIER_ERROR(Memory::create(kSize, options), std::errc::not_enough_memory);
}

// Free explicit 1 GiB huge pages; 0 where the kernel has no such pool.
std::size_t free_1gib_pages() {
  std::ifstream free_pages("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages");
  std::size_t value = 0;
  free_pages >> value;
  return value;
}

TEST(MemoryPlacement, ExplicitOneGibPagesWithoutFallbackSayTheyAreNotAvailable) {
  if (free_1gib_pages() > 0) {
    GTEST_SKIP() << "this machine has a free 1 GiB huge page; the refusal cannot be provoked";
  }
  MemoryOptions options;
  options.page_size = PageSize::huge_1gib;
  options.fallback = false;
  const std::string what = create_error(options, std::errc::not_enough_memory);
  EXPECT_NE(what.find("1 GiB huge pages are not available"), std::string::npos) << what;
  EXPECT_NE(what.find("hugepages-1048576kB/nr_hugepages"), std::string::npos) << what;
}

#if DATATIER_HAVE_LIBNUMA
TEST(MemoryPlacement, NumaBindToAnExistingNode) {
  MemoryOptions options;
  options.numa = NumaPolicy::bind;
  options.numa_node = 0;
  auto pool = Memory::create(kSize, options);
  EXPECT_EQ(pool.placement().numa, NumaPolicy::bind);
  EXPECT_EQ(pool.placement().numa_node, 0);
  expect_usable(pool, kSize);
}

TEST(MemoryPlacement, NumaBindToAMissingNodeIsInvalid) {
  MemoryOptions options;
  options.numa = NumaPolicy::bind;
  options.numa_node = 4095;
  EXPECT_DATATIER_ERROR(Memory::create(kSize, options), std::errc::invalid_argument);
}

TEST(MemoryPlacement, NumaInterleave) {
  MemoryOptions options;
  options.numa = NumaPolicy::interleave;
  auto pool = Memory::create(kSize, options);
  EXPECT_EQ(pool.placement().numa, NumaPolicy::interleave);
  expect_usable(pool, kSize);
}
#else
TEST(MemoryPlacement, NumaPoliciesFailClearlyWithoutLibnuma) {
  for (const NumaPolicy policy : {NumaPolicy::bind, NumaPolicy::interleave}) {
    MemoryOptions options;
    options.numa = policy;
    const std::string what = create_error(options, std::errc::function_not_supported);
    EXPECT_NE(what.find("NUMA"), std::string::npos) << what;
    EXPECT_NE(what.find("without libnuma"), std::string::npos) << what;
  }
}
#endif

TEST(MemoryPlacement, LockedPagesAreReportedLocked) {
  MemoryOptions options;
  options.lock = true;
  try {
    auto pool = Memory::create(std::size_t{1} << 20, options);
    EXPECT_TRUE(pool.placement().locked);
    expect_usable(pool, std::size_t{1} << 20);
  } catch (const Error& e) {
    // Without CAP_IPC_LOCK the RLIMIT_MEMLOCK limit may refuse: a clean error.
    EXPECT_TRUE(e.code() == std::errc::not_enough_memory ||
                e.code() == std::errc::operation_not_permitted)
        << e.what();
  }
}

TEST(MemoryPlacement, FileBackedMemoryPassesItsMemoryOptionsOn) {
  testing::TempDir dir;
  FileOptions options;
  options.memory.page_size = PageSize::small;
  options.threads = 1;
  {
    auto pool = FileBackedMemory::create(dir / "pool", kSize, 0, options);
    const Placement placement = pool.placement();  // its memory's
    EXPECT_EQ(placement.page_size, PageSize::small);
    EXPECT_EQ(placement.threads, 1u);
    EXPECT_EQ(placement.huge_bytes, 0u);
    testing::fill_splitmix64(pool.data(), 2);
    pool.flush();
    const FileBackedMemory moved = std::move(pool);
    EXPECT_EQ(moved.placement().page_size, PageSize::small);
    EXPECT_EQ(pool.placement().page_size, PageSize::transparent);  // moved from: defaults
  }
  auto reopened = FileBackedMemory::open(dir / "pool", kSize, 0, options);
  const auto expected = testing::splitmix64_bytes(kSize, 2);
  EXPECT_TRUE(std::equal(reopened.data().begin(), reopened.data().end(), expected.begin()));
}

// Whether transparent huge pages are on for memory advised MADV_HUGEPAGE:
// "[always]" or "[madvise]" in the kernel's setting.
bool transparent_huge_pages_enabled() {
  std::ifstream setting("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string text;
  std::getline(setting, text);
  return text.find("[always]") != std::string::npos || text.find("[madvise]") != std::string::npos;
}

TEST(MemoryPlacement, HugeBytesNeverExceedThePoolsSize) {
  MemoryOptions options;
  options.page_size = PageSize::small;
  const auto small = Memory::create(kSize, options);
  EXPECT_EQ(small.placement().huge_bytes, 0u);  // MADV_NOHUGEPAGE
  const auto transparent = Memory::create(kSize);
  EXPECT_LE(transparent.placement().huge_bytes, kSize);
  EXPECT_EQ(Memory::create(0).placement().huge_bytes, 0u);
}

TEST(MemoryPlacement, TransparentHugePagesBackA64MiBPoolAfterCreate) {
  if (!transparent_huge_pages_enabled()) {
    GTEST_SKIP() << "transparent huge pages are off on this machine";
  }
  constexpr std::size_t kLarge = std::size_t{64} << 20;
  const auto pool = Memory::create(kLarge);
  const Placement placement = pool.placement();
  EXPECT_EQ(placement.page_size, PageSize::transparent);
  EXPECT_GT(placement.huge_bytes, 0u);
  EXPECT_LE(placement.huge_bytes, kLarge);
  std::printf("huge_bytes of a 64 MiB pool after create: %zu (%zu MiB)\n", placement.huge_bytes,
              placement.huge_bytes >> 20);
}

TEST(MemoryPlacement, MmapFileReportsItsMappingOfTheFile) {
  testing::TempDir dir;
  FileOptions options;
  options.threads = 1;
  auto pool = MmapFile::create(dir / "pool", kSize, 0, options);
  Placement placement = pool.placement();
  EXPECT_EQ(placement.page_size, PageSize::transparent);
  EXPECT_EQ(placement.page_bytes, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(placement.numa, NumaPolicy::local);
  EXPECT_EQ(placement.numa_node, -1);
  EXPECT_FALSE(placement.locked);
  EXPECT_EQ(placement.threads, 1u);
  EXPECT_LE(placement.huge_bytes, kSize);
  pool.close();
  options.threads = 2;
  const auto reopened = MmapFile::open(dir / "pool", kSize, 0, options);
  placement = reopened.placement();
  EXPECT_EQ(placement.threads, 2u);
  EXPECT_LE(placement.huge_bytes, kSize);
  EXPECT_EQ(pool.placement().threads, Placement{}.threads);  // closed: defaults
}

// Whether a line of /proc/self/maps names a memory file at `at`.
bool mapped_as_memory_file(const void* at) {
  std::ifstream maps("/proc/self/maps");
  const auto address = reinterpret_cast<std::uintptr_t>(at);
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t first = 0;
    std::uintptr_t last = 0;
    if (std::sscanf(line.c_str(), "%zx-%zx", &first, &last) != 2) continue;
    if (address >= first && address < last) return line.find("/memfd:") != std::string::npos;
  }
  return false;
}

TEST(MemoryPlacement, ShareableMemoryIsAMemoryFileWithTheSmallPagesTheKernelAllowsIt) {
  MemoryOptions options;
  options.shareable = true;
  std::vector<Fallback> heard;
  options.on_fallback = [&](const Fallback& f) { heard.push_back(f); };
  auto pool = Memory::create(kSize, options);
  const Placement p = pool.placement();
  EXPECT_TRUE(p.shared);
  EXPECT_TRUE(mapped_as_memory_file(pool.data().data()));
  std::string setting;
  if (platform::shared_memory_has_transparent_huge_pages(&setting)) {
    EXPECT_EQ(p.page_size, PageSize::transparent) << setting;
    EXPECT_TRUE(heard.empty());
  } else {
    EXPECT_EQ(p.page_size, PageSize::small) << setting;
    ASSERT_EQ(heard.size(), 1u);
    EXPECT_EQ(heard[0].kind, FallbackKind::smaller_pages);
    EXPECT_NE(heard[0].message.find("shmem_enabled"), std::string::npos) << heard[0].message;
  }
  EXPECT_EQ(p.page_bytes, 4096u);
  expect_usable(pool, kSize);
  EXPECT_FALSE(Memory::create(kSize).placement().shared);
}

TEST(MemoryPlacement, ShareableExplicitHugePagesFallBackOrComeFromTheReservedPool) {
  MemoryOptions options;
  options.shareable = true;
  options.page_size = PageSize::huge_2mib;
  auto pool = Memory::create(kSize + 1, options);
  const Placement p = pool.placement();
  EXPECT_TRUE(p.shared);
  if (free_huge_pages() * (std::size_t{2} << 20) >= 2 * kSize) {
    EXPECT_EQ(p.page_size, PageSize::huge_2mib);
  } else {
    EXPECT_NE(p.page_size, PageSize::huge_2mib);
    options.fallback = false;
    const std::string what = create_error(options, std::errc::not_enough_memory);
    EXPECT_NE(what.find("hugepages-2048kB/nr_hugepages"), std::string::npos) << what;
  }
  expect_usable(pool, kSize + 1);
}

TEST(MemoryPlacement, SharedMemorySettingsAreReadFromTheBracketedWord) {
  EXPECT_EQ(platform::selected_setting("always within_size advise [never] deny force"), "never");
  EXPECT_EQ(platform::selected_setting("[always] never"), "always");
  EXPECT_EQ(platform::selected_setting("always never"), "");
}

}  // namespace
}  // namespace datatier
