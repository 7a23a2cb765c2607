// Each fallback a pool takes, forced through the system-call table, reaches
// the caller's FallbackHandler with its kind, and the pool still works.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using platform::real_syscalls;
using platform::syscalls;
using testing::RestoreSyscalls;

constexpr std::size_t kSize = std::size_t{1} << 20;

// The fallbacks a handler heard, in order.
class Heard {
 public:
  FallbackHandler handler() {
    return [this](const Fallback& fallback) { fallbacks_.push_back(fallback); };
  }
  std::size_t count(FallbackKind kind) const {
    return static_cast<std::size_t>(
        std::count_if(fallbacks_.begin(), fallbacks_.end(),
                      [kind](const Fallback& f) { return f.kind == kind; }));
  }
  std::size_t total() const noexcept { return fallbacks_.size(); }
  const Fallback& at(std::size_t i) const { return fallbacks_.at(i); }

 private:
  std::vector<Fallback> fallbacks_;
};

// Options for a file pool whose fallbacks `heard` hears, with buffered I/O
// (so that a file system without direct I/O adds nothing to hear).
FileOptions heard_by(Heard& heard) {
  FileOptions options;
  options.direct_io = false;
  options.on_fallback = heard.handler();
  return options;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Fills `pool` with the stream of `seed`, closes it, and checks that a
// FileBackedMemory open of `path` with `options` finds exactly those bytes.
void expect_saved(FileBackedMemory pool, const std::filesystem::path& path,
                  const FileOptions& options, std::uint64_t seed) {
  testing::fill_splitmix64(pool.data(), seed);
  pool.close();
  const auto reopened = FileBackedMemory::open(path, kSize, 0, options);
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data(), seed));
}

TEST(Fallback, DirectIoRefusedByTheFileSystemIsHeardAsBufferedIo) {
  RestoreSyscalls restore;
  syscalls().openat = [](int dirfd, const char* path, int flags, mode_t mode) {
    if ((flags & O_DIRECT) != 0) {
      errno = EINVAL;
      return -1;
    }
    return real_syscalls().openat(dirfd, path, flags, mode);
  };
  testing::TempDir dir;
  Heard heard;
  FileOptions options;
  options.on_fallback = heard.handler();
  auto pool = FileBackedMemory::create(dir / "pool", kSize, 0, options);
  // The spare file, which create() opens for the first save.
  ASSERT_EQ(heard.total(), 1u);
  EXPECT_EQ(heard.at(0).kind, FallbackKind::buffered_io);
  EXPECT_TRUE(contains(heard.at(0).message, "pool.prev")) << heard.at(0).message;
  EXPECT_TRUE(contains(heard.at(0).message, "O_DIRECT")) << heard.at(0).message;
  // open(): the pool file, then the spare.
  expect_saved(std::move(pool), dir / "pool", options, 1);
  EXPECT_EQ(heard.count(FallbackKind::buffered_io), 3u);
  EXPECT_EQ(heard.total(), 3u);
}

// renameat2(2) on a file system that cannot exchange names.
int renameat2_without_exchange(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                               unsigned flags) {
  if ((flags & RENAME_EXCHANGE) != 0) {
    errno = EINVAL;
    return -1;
  }
  return real_syscalls().renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

TEST(Fallback, NamesTheFileSystemCannotExchangeAreHeardAsNoRenameExchange) {
  RestoreSyscalls restore;
  syscalls().renameat2 = renameat2_without_exchange;
  testing::TempDir dir;
  Heard heard;
  FileOptions options = heard_by(heard);
  auto pool = FileBackedMemory::create(dir / "pool", kSize, 0, options);
  EXPECT_EQ(heard.total(), 0u);
  testing::fill_splitmix64(pool.data(), 2);
  pool.flush();
  ASSERT_EQ(heard.total(), 1u);
  EXPECT_EQ(heard.at(0).kind, FallbackKind::no_rename_exchange);
  EXPECT_TRUE(contains(heard.at(0).message, "RENAME_EXCHANGE")) << heard.at(0).message;
  // close() saves once more.
  expect_saved(std::move(pool), dir / "pool", options, 3);
  EXPECT_EQ(heard.count(FallbackKind::no_rename_exchange), 2u);
  EXPECT_EQ(heard.total(), 2u);
}

TEST(Fallback, RestoringThePreviousSnapshotWithoutExchangeIsHeard) {
  testing::TempDir dir;
  FileOptions options;
  options.direct_io = false;
  {
    auto pool = FileBackedMemory::create(dir / "pool", kSize, 0, options);
    testing::fill_splitmix64(pool.data(), 4);
    pool.flush();
    testing::fill_splitmix64(pool.data(), 5);
    pool.close();
  }
  testing::flip_byte(dir / "pool", 4096 + 100);
  RestoreSyscalls restore;
  syscalls().renameat2 = renameat2_without_exchange;
  Heard heard;
  options.fallback_to_previous = true;
  options.on_fallback = heard.handler();
  auto pool = FileBackedMemory::open(dir / "pool", kSize, 0, options);
  EXPECT_TRUE(pool.recovery().used_previous);
  ASSERT_EQ(heard.total(), 1u);
  EXPECT_EQ(heard.at(0).kind, FallbackKind::no_rename_exchange);
  EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 4));
}

// mmap(2) refusing every explicit huge page, as a kernel with none reserved.
void* mmap_without_huge_pages(void* addr, std::size_t length, int prot, int flags, int fd,
                              off_t offset) {
  if ((flags & MAP_HUGETLB) != 0) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  return real_syscalls().mmap(addr, length, prot, flags, fd, offset);
}

TEST(Fallback, HugePagesTheKernelRefusesAreHeardAsSmallerPagesAtEachStep) {
  RestoreSyscalls restore;
  syscalls().mmap = mmap_without_huge_pages;
  Heard heard;
  MemoryOptions options;
  options.page_size = PageSize::huge_1gib;
  options.on_fallback = heard.handler();
  auto pool = Memory::create(kSize, options);
  EXPECT_EQ(pool.placement().page_size, PageSize::transparent);
  ASSERT_EQ(heard.total(), 2u);
  EXPECT_EQ(heard.count(FallbackKind::smaller_pages), 2u);
  EXPECT_TRUE(contains(heard.at(0).message, "using 2 MiB huge pages instead"))
      << heard.at(0).message;
  EXPECT_TRUE(contains(heard.at(1).message, "using transparent huge pages instead"))
      << heard.at(1).message;
}

TEST(Fallback, FileBackedMemoryPassesItsMemorysFallbacksToFileOptions) {
  RestoreSyscalls restore;
  syscalls().mmap = mmap_without_huge_pages;
  testing::TempDir dir;
  Heard heard;
  FileOptions options;
  options.direct_io = false;
  options.memory.page_size = PageSize::huge_2mib;
  options.on_fallback = heard.handler();
  auto pool = FileBackedMemory::create(dir / "pool", kSize, 0, options);
  EXPECT_EQ(pool.placement().page_size, PageSize::transparent);
  ASSERT_EQ(heard.total(), 1u);
  EXPECT_EQ(heard.at(0).kind, FallbackKind::smaller_pages);
}

TEST(Fallback, ShareableMemoryWithoutHugeMemoryFilesFallsBackAndIsHeard) {
  RestoreSyscalls restore;
  // A kernel without hugetlbfs memory files of that size.
  syscalls().memfd_create = [](const char* name, unsigned flags) {
    if ((flags & MFD_HUGETLB) != 0) {
      errno = EINVAL;
      return -1;
    }
    return real_syscalls().memfd_create(name, flags);
  };
  Heard heard;
  MemoryOptions options;
  options.shareable = true;
  options.page_size = PageSize::huge_2mib;
  options.on_fallback = heard.handler();
  auto pool = Memory::create(kSize, options);
  EXPECT_TRUE(pool.placement().shared);
  EXPECT_NE(pool.placement().page_size, PageSize::huge_2mib);
  ASSERT_GE(heard.total(), 1u);
  EXPECT_EQ(heard.count(FallbackKind::smaller_pages), heard.total());
  EXPECT_TRUE(contains(heard.at(0).message, "2 MiB huge pages are not available"))
      << heard.at(0).message;
  testing::fill_splitmix64(pool.data(), 1);
  EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 1));
}

TEST(Fallback, AFailedMemoryFileIsAnErrorWithItsErrno) {
  RestoreSyscalls restore;
  syscalls().memfd_create = [](const char*, unsigned) {
    errno = EMFILE;
    return -1;
  };
  MemoryOptions options;
  options.shareable = true;
  EXPECT_DATATIER_ERROR(Memory::create(kSize, options), std::errc::too_many_files_open);
}

TEST(Fallback, ARefusedFaultInThreadIsHeardAsFewerThreads) {
  RestoreSyscalls restore;
  syscalls().pthread_create = [](pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) {
    return EAGAIN;
  };
  Heard heard;
  MemoryOptions options;
  options.page_size = PageSize::small;
  options.threads = 2;
  options.on_fallback = heard.handler();
  // Two 64 MiB slices of fault-in work, for two threads.
  auto pool = Memory::create(std::size_t{128} << 20, options);
  EXPECT_EQ(pool.placement().threads, 1u);
  ASSERT_EQ(heard.total(), 1u);
  EXPECT_EQ(heard.at(0).kind, FallbackKind::fewer_threads);
  EXPECT_TRUE(contains(heard.at(0).message, "refused 1 of 1")) << heard.at(0).message;
  testing::fill_splitmix64(pool.data(), 6);
}

TEST(Fallback, AHandlerThatThrowsDoesNotStopThePool) {
  RestoreSyscalls restore;
  syscalls().mmap = mmap_without_huge_pages;
  MemoryOptions options;
  options.page_size = PageSize::huge_2mib;
  int calls = 0;
  options.on_fallback = [&calls](const Fallback&) {
    ++calls;
    throw std::runtime_error("a handler breaking its contract");
  };
  auto pool = Memory::create(kSize, options);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(pool.size(), kSize);
}

}  // namespace
}  // namespace datatier
