// Placement::huge_bytes: the bytes of a range that huge pages back, parsed
// from fixed /proc/self/smaps text and read from the kernel's.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "platform/memory_map.h"
#include "platform/syscalls.h"

namespace datatier {
namespace {

constexpr std::uintptr_t kMiB = std::uintptr_t{1} << 20;

// Three mappings as Linux 6.x lists them (fields abridged): 64 MiB of
// anonymous memory at 0x7f0000000000 with 62 MiB of transparent huge pages,
// 4 MiB of explicit 2 MiB pages right after it, and a file's 1 MiB.
const std::string kSmaps =
    "7f0000000000-7f0004000000 rw-p 00000000 00:00 0 \n"
    "Size:              65536 kB\n"
    "KernelPageSize:        4 kB\n"
    "Rss:               65536 kB\n"
    "AnonHugePages:     63488 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "Shared_Hugetlb:        0 kB\n"
    "Private_Hugetlb:       0 kB\n"
    "THPeligible:           1\n"
    "VmFlags: rd wr mr mw me ac sd hg \n"
    "7f0004000000-7f0004400000 rw-p 00000000 00:10 123 /anon_hugepage (deleted)\n"
    "Size:               4096 kB\n"
    "KernelPageSize:     2048 kB\n"
    "AnonHugePages:         0 kB\n"
    "Private_Hugetlb:    4096 kB\n"
    "VmFlags: rd wr mr mw me de ht \n"
    "7f0005000000-7f0005100000 r--s 00000000 fe:01 77 /data/pool\n"
    "Size:               1024 kB\n"
    "FilePmdMapped:      1024 kB\n"
    "VmFlags: rd sh mr mw me ms \n";

constexpr std::uintptr_t kAnon = 0x7f0000000000;

TEST(MemoryMap, SumsTheHugePagesOfTheMappingsInTheRange) {
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, kAnon, kAnon + 64 * kMiB), 62 * kMiB);
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, kAnon + 64 * kMiB, kAnon + 68 * kMiB), 4 * kMiB);
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, kAnon, kAnon + 68 * kMiB), 66 * kMiB);
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, 0x7f0005000000, 0x7f0005100000), 1 * kMiB);
}

TEST(MemoryMap, CountsAMappingThatReachesPastTheRangeAtMostForTheOverlap) {
  // 1 MiB of the 64 MiB mapping: smaps does not say which addresses its huge
  // pages are at, so at most the 1 MiB shared.
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, kAnon + 10 * kMiB, kAnon + 11 * kMiB), 1 * kMiB);
  // The last 1 MiB of the anonymous mapping and the first 2 MiB after it.
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, kAnon + 63 * kMiB, kAnon + 66 * kMiB), 3 * kMiB);
}

TEST(MemoryMap, ARangeNoMappingOverlapsHasNone) {
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, 0x1000, 0x2000), 0u);
  EXPECT_EQ(platform::huge_page_bytes(kSmaps, kAnon + 68 * kMiB, 0x7f0005000000), 0u);
  EXPECT_EQ(platform::huge_page_bytes("", kAnon, kAnon + kMiB), 0u);
  EXPECT_EQ(platform::huge_page_bytes("garbage\n-\nAnonHugePages: x kB\n", 0, ~std::uintptr_t{0}),
            0u);
}

TEST(MemoryMap, ReadsTheKernelsCountForARangeOfThisProcess) {
  const std::vector<std::byte> heap(std::size_t{1} << 20);
  EXPECT_LE(platform::huge_page_bytes(heap), heap.size());
}

TEST(MemoryMap, WithoutProcTheCountIsZero) {
  platform::syscalls().openat = [](int, const char*, int, mode_t) {
    errno = ENOENT;
    return -1;
  };
  const std::vector<std::byte> heap(std::size_t{1} << 20);
  const std::uint64_t bytes = platform::huge_page_bytes(heap);
  platform::syscalls() = platform::real_syscalls();
  EXPECT_EQ(bytes, 0u);
}

}  // namespace
}  // namespace datatier
