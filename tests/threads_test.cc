// Calls that use threads leave none behind, give the same bytes on any
// thread count, and FileBackedMemory loads without a second copy of the pool.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "datatier/datatier.h"
#include "parallel.h"
#include "platform/syscalls.h"
#include "process_state.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

// A field of /proc/self/status in KiB, e.g. "VmHWM:".
std::size_t status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == field) {
      std::size_t value = 0;
      status >> value;
      return value;
    }
    status.ignore(4096, '\n');
  }
  return 0;
}

TEST(Threads, NoCallLeavesAThreadRunning) {
  testing::TempDir dir;
  const std::size_t before = testing::thread_count();
  constexpr std::size_t kSize = std::size_t{96} << 20;
  {
    auto memory = Memory::create(kSize);
    EXPECT_EQ(testing::thread_count(), before);
    auto mmap = MmapFile::create(dir / "m", kSize, 0);
    EXPECT_EQ(testing::thread_count(), before);
    mmap.flush();
    auto fbm = FileBackedMemory::create(dir / "f", kSize, 0);
    fbm.flush();
    EXPECT_EQ(testing::thread_count(), before);
  }
  FileOptions accept;
  accept.accept_unclean = true;
  {
    auto mmap = MmapFile::open(dir / "m", kSize, 0, accept);
    auto fbm = FileBackedMemory::open(dir / "f", kSize, 0, accept);
    EXPECT_EQ(testing::thread_count(), before);
  }
  VerifyOptions verify;
  verify.accept_unclean = true;
  EXPECT_TRUE(verify_file(dir / "f", verify).ok());
  EXPECT_EQ(testing::thread_count(), before);
}

TEST(Threads, AWorkersExceptionIsRethrownOnceAllHaveFinished) {
  std::atomic<unsigned> finished{0};
  EXPECT_THROW(detail::run_parallel(4,
                                    [&](unsigned worker) {
                                      if (worker == 2) throw std::runtime_error("worker 2");
                                      std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                      ++finished;
                                    }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 3u);
}

TEST(Threads, RunParallelSaysHowManyWorkersRanWhenThreadsAreRefused) {
  std::atomic<unsigned> calls{0};
  EXPECT_EQ(detail::run_parallel(3, [&](unsigned) { ++calls; }), 3u);
  EXPECT_EQ(calls.load(), 3u);
  platform::syscalls().pthread_create = [](pthread_t*, const pthread_attr_t*, void* (*)(void*),
                                           void*) { return EAGAIN; };
  calls = 0;
  const unsigned ran = detail::run_parallel(3, [&](unsigned) { ++calls; });
  platform::syscalls() = platform::real_syscalls();
  EXPECT_EQ(ran, 1u);
  EXPECT_EQ(calls.load(), 1u);
}

TEST(Threads, SideBySideRethrowsOnceBothHaveFinished) {
  std::atomic<bool> foreground_finished{false};
  EXPECT_THROW(
      detail::run_side_by_side([] { throw std::runtime_error("background"); },
                               [&] {
                                 std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                 foreground_finished = true;
                               }),
      std::runtime_error);
  EXPECT_TRUE(foreground_finished.load());
  std::atomic<bool> background_finished{false};
  EXPECT_THROW(detail::run_side_by_side(
                   [&] {
                     std::this_thread::sleep_for(std::chrono::milliseconds(20));
                     background_finished = true;
                   },
                   [] { throw std::runtime_error("foreground"); }),
               std::runtime_error);
  EXPECT_TRUE(background_finished.load());
}

TEST(Threads, WhatAnyThreadCountSavesAnyOtherVerifies) {
  testing::TempDir dir;
  constexpr std::size_t kSize = (std::size_t{40} << 20) + 12345;
  const auto expected = testing::splitmix64_bytes(kSize, 5);
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    SCOPED_TRACE(threads);
    FileOptions options;
    options.threads = threads;
    const auto path = dir / ("pool" + std::to_string(threads));
    {
      auto pool = FileBackedMemory::create(path, kSize, 0, options);
      testing::fill_splitmix64(pool.data(), 5);
      pool.close();
    }
    options.threads = threads == 1 ? 3 : 1;
    auto reopened = FileBackedMemory::open(path, kSize, 0, options);
    EXPECT_TRUE(std::equal(reopened.data().begin(), reopened.data().end(), expected.begin()));
    reopened.close();
    VerifyOptions verify;
    verify.threads = threads + 1;
    verify.accept_unclean = true;
    EXPECT_TRUE(verify_file(path, verify).ok());
  }
}

TEST(Threads, FileBackedMemoryLoadsWithoutASecondCopy) {
  testing::TempDir dir;
  constexpr std::size_t kSize = std::size_t{256} << 20;
  {
    auto pool = FileBackedMemory::create(dir / "pool", kSize, 0);
    testing::fill_splitmix64(pool.data(), 6);
    pool.flush();
  }
  // In a fresh child, so that the peak resident size is the load's alone.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::size_t base_kib = status_kib("VmRSS:");
    int status = 0;
    try {
      auto pool = FileBackedMemory::open(dir / "pool", kSize, 0);
      const std::size_t peak_kib = status_kib("VmHWM:");
      // Pool plus at most 64 MiB of everything else.
      status = (peak_kib - base_kib) * 1024 <= kSize + (std::size_t{64} << 20) ? 0 : 1;
    } catch (...) {
      status = 2;
    }
    ::_exit(status);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1 = peak resident memory above pool + 64 MiB, 2 = open failed";
}

}  // namespace
}  // namespace datatier
