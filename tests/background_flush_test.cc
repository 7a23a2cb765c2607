// Background saves: while writers keep writing (each write preceded by
// mark_dirty()), begin_flush() saves exactly the bytes of the moment it was
// called, within the copy budget; one save at a time; cancelled, failed or
// killed saves leave the previous snapshot.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "datatier/datatier.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

constexpr std::uint64_t kUserVersion = 5;
constexpr std::size_t kBlock = 4096;
// A region belongs to one writer, so that writers never race each other;
// writes span up to a whole region, several blocks.
constexpr std::size_t kRegion = 16 * kBlock;

FileOptions options_for(Changes changes, std::size_t budget_blocks = 8) {
  FileOptions options;
  options.block_size = kBlock;
  options.changes = changes;
  options.copy_budget = budget_blocks * kBlock;
  return options;
}

std::vector<std::byte> data_of_file(const std::filesystem::path& path, std::size_t size) {
  std::vector<std::byte> bytes = testing::read_file(path);
  return {bytes.begin() + static_cast<std::ptrdiff_t>(kHeaderSize),
          bytes.begin() + static_cast<std::ptrdiff_t>(kHeaderSize + size)};
}

// The blocks where two byte strings differ.
std::size_t blocks_off(std::span<const std::byte> a, std::span<const std::byte> b) {
  std::size_t off = 0;
  for (std::size_t at = 0; at < a.size(); at += kBlock) {
    const std::size_t n = std::min(kBlock, a.size() - at);
    if (std::memcmp(a.data() + at, b.data() + at, n) != 0) ++off;
  }
  return off;
}

// A pool whose file holds the splitmix64 bytes of seed `saved` and whose
// memory those of `current`, every block marked.
FileBackedMemory saved_then_changed(const std::filesystem::path& path, std::size_t size,
                                    const FileOptions& options, std::uint64_t saved,
                                    std::uint64_t current) {
  auto pool = FileBackedMemory::create(path, size, kUserVersion, options);
  testing::fill_splitmix64(pool.data(), saved);
  pool.flush();
  testing::fill_splitmix64(pool.data(), current);
  pool.mark_dirty(0, size);
  return pool;
}

// Writer threads that write their regions at full speed, each write
// preceded by mark_dirty(), stamping it with a running generation, until
// stopped; they stand still while pause() holds them.
class Writers {
 public:
  Writers(FileBackedMemory& pool, unsigned count) : pool_(pool) {
    for (unsigned w = 0; w < count; ++w) threads_.emplace_back([this, w, count] { run(w, count); });
  }
  Writers(const Writers&) = delete;
  Writers& operator=(const Writers&) = delete;
  ~Writers() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
  }

  // Holds every writer between two writes; resume() lets them go on.
  void pause() {
    paused_.store(true);
    while (parked_.load() != threads_.size()) std::this_thread::yield();
  }
  void resume() { paused_.store(false); }
  std::uint64_t writes() const { return writes_.load(); }

 private:
  void run(unsigned w, unsigned count) {
    std::mt19937_64 random(w + 1);
    const std::span<std::byte> data = pool_.data();
    const std::size_t regions = data.size() / kRegion;
    std::uint64_t generation = 0;
    while (!stop_.load()) {
      if (paused_.load()) {
        parked_.fetch_add(1);
        while (paused_.load() && !stop_.load()) std::this_thread::yield();
        parked_.fetch_sub(1);
        continue;
      }
      const std::size_t region = (random() % ((regions - w + count - 1) / count)) * count + w;
      const std::size_t length = 1 + random() % kRegion;
      const std::size_t at = region * kRegion + random() % (kRegion - length + 1);
      pool_.mark_dirty(at, length);
      std::memset(data.data() + at, static_cast<int>(++generation * count + w), length);
      writes_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  FileBackedMemory& pool_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<std::size_t> parked_{0};
  std::atomic<std::uint64_t> writes_{0};
};

// Rounds of: pause the writers, note the pool's bytes, begin a save, let
// the writers go on during it; the file must hold exactly the noted bytes,
// and open() must give them.
void expect_exact_cuts(Changes changes, unsigned writers, std::size_t budget_blocks) {
  const testing::TempDir dir;
  const auto path = dir / "pool";
  constexpr std::size_t kSize = 64 * kRegion;
  const FileOptions options = options_for(changes, budget_blocks);
  std::vector<std::byte> last;
  {
    auto pool = FileBackedMemory::create(path, kSize, kUserVersion, options);
    testing::fill_splitmix64(pool.data(), 1);
    Writers writing(pool, writers);
    for (int round = 0; round < 6; ++round) {
      writing.pause();
      const std::vector<std::byte> expected(pool.data().begin(), pool.data().end());
      const std::uint64_t before = writing.writes();
      BackgroundFlush save = pool.begin_flush();
      writing.resume();
      save.wait();
      EXPECT_TRUE(save.done());
      EXPECT_LE(save.peak_copy_bytes(), budget_blocks * kBlock);
      EXPECT_EQ(save.progress().done, save.progress().total);
      EXPECT_EQ(blocks_off(data_of_file(path, kSize), expected), 0u)
          << "round " << round << ", " << writing.writes() - before << " writes during the save";
    }
    writing.pause();
    last.assign(pool.data().begin(), pool.data().end());
    pool.begin_flush().wait();
  }
  // What the last background save left opens, its checksum verified.
  FileOptions reopen = options;
  reopen.accept_unclean = true;
  const auto opened = FileBackedMemory::open(path, kSize, kUserVersion, reopen);
  EXPECT_EQ(blocks_off(opened.data(), last), 0u);
}

TEST(BackgroundFlush, SavesExactlyTheBytesAtTheCallWhileWritersWriteMarked) {
  expect_exact_cuts(Changes::marked, 3, 8);
}

TEST(BackgroundFlush, SavesExactlyTheBytesAtTheCallWhileWritersWriteCompared) {
  expect_exact_cuts(Changes::compare, 2, 4);
}

TEST(BackgroundFlush, SavesExactlyTheBytesAtTheCallWithTheSmallestBudget) {
  expect_exact_cuts(Changes::marked, 4, 2);
}

TEST(BackgroundFlush, WritersCopyBlocksAndStayWithinTheBudget) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 256 * kBlock;
  auto pool =
      FileBackedMemory::create(dir / "pool", kSize, kUserVersion, options_for(Changes::marked, 4));
  BackgroundFlush save = pool.begin_flush();
  // Every block changes at once: the first save takes them all, so the
  // writer copies what it reaches first.
  for (std::size_t at = 0; at < kSize; at += kBlock) {
    pool.mark_dirty(at, kBlock);
    std::memset(pool.data().data() + at, 0xAB, kBlock);
  }
  save.wait();
  EXPECT_GT(save.peak_copy_bytes(), 0u);
  EXPECT_LE(save.peak_copy_bytes(), 4 * kBlock);
  EXPECT_EQ(blocks_off(data_of_file(dir / "pool", kSize), std::vector<std::byte>(kSize)), 0u);
}

TEST(BackgroundFlush, IsWholeOrIncrementalLikeFlush) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 64 * kBlock + 100;
  const FileOptions options = options_for(Changes::marked);
  auto pool = FileBackedMemory::create(dir / "pool", kSize, kUserVersion, options);
  testing::fill_splitmix64(pool.data(), 2);
  BackgroundFlush first = pool.begin_flush();
  first.wait();
  EXPECT_EQ(first.progress().total, kSize);  // everything: the spare had no index
  pool.flush();                              // both files hold a snapshot and an index
  pool.mark_dirty(10 * kBlock, 1);
  pool.data()[10 * kBlock] = std::byte{7};
  BackgroundFlush second = pool.begin_flush();
  second.wait();
  // Block 0 (the header's), the marked block, and the blocks where the two
  // files differed: none here.
  EXPECT_EQ(second.progress().total, 2 * kBlock - kHeaderSize);
  pool.close();
  auto reopened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, options);
  EXPECT_EQ(reopened.data()[10 * kBlock], std::byte{7});
  EXPECT_TRUE(testing::holds_splitmix64(reopened.data().subspan(0, 10 * kBlock), 2));
}

TEST(BackgroundFlush, OneSaveAtATime) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 512 * kBlock;
  auto pool =
      FileBackedMemory::create(dir / "pool", kSize, kUserVersion, options_for(Changes::compare));
  testing::fill_splitmix64(pool.data(), 3);
  BackgroundFlush save = pool.begin_flush();
  pool.flush();  // waits for the background save, then saves
  EXPECT_TRUE(save.done());
  save.wait();
  BackgroundFlush again = pool.begin_flush();
  BackgroundFlush third = pool.begin_flush();  // waits for `again` first
  EXPECT_TRUE(again.done());
  third.wait();
  pool.close();  // no save running: saves and releases
  EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 3));
}

TEST(BackgroundFlush, CancelLeavesThePreviousSnapshot) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 256 * kBlock;
  FileOptions options = options_for(Changes::marked);
  std::atomic<bool> cancel{false};
  options.progress = [&](std::uint64_t, std::uint64_t) { return !cancel.load(); };
  auto pool = saved_then_changed(dir / "pool", kSize, options, 4, 5);
  cancel.store(true);
  BackgroundFlush save = pool.begin_flush();
  try {
    save.wait();
    FAIL() << "a cancelled save completed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_canceled) << e.what();
  }
  std::error_code ec;
  save.wait(ec);
  EXPECT_EQ(ec, std::errc::operation_canceled);
  EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 4));
  // The marks are back: the next save writes the new bytes.
  cancel.store(false);
  pool.begin_flush().wait();
  EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 5));
}

TEST(BackgroundFlush, CancelFromTheHandle) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 2048 * kBlock;
  FileOptions options = options_for(Changes::compare);
  std::atomic<bool> cancel_now{false};
  BackgroundFlush* handle = nullptr;
  options.progress = [&](std::uint64_t, std::uint64_t) {
    if (cancel_now.load() && handle != nullptr) handle->cancel();
    return true;
  };
  auto pool = saved_then_changed(dir / "pool", kSize, options, 6, 7);
  BackgroundFlush save;
  handle = &save;
  cancel_now.store(true);
  save = pool.begin_flush();
  save.cancel();
  std::error_code ec;
  save.wait(ec);
  if (ec) {
    EXPECT_EQ(ec, std::errc::operation_canceled);
    EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 6));
  } else {
    // Cancelled too late: it completed.
    EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 7));
  }
}

TEST(BackgroundFlush, DestroyingThePoolStopsItsSave) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 1024 * kBlock;
  BackgroundFlush save;
  {
    auto pool = saved_then_changed(dir / "pool", kSize, options_for(Changes::compare), 8, 9);
    save = pool.begin_flush();
  }
  EXPECT_TRUE(save.done());
  std::error_code ec;
  save.wait(ec);
  FileOptions reopen = options_for(Changes::compare);
  reopen.accept_unclean = true;
  const auto opened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, reopen);
  EXPECT_TRUE(testing::holds_splitmix64(opened.data(), ec ? 8 : 9)) << ec.message();
}

TEST(BackgroundFlush, AFailedWriteReachesWaitAndTheNextSaveWorks) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 64 * kBlock;
  auto pool = saved_then_changed(dir / "pool", kSize, options_for(Changes::marked), 10, 11);
  platform::syscalls().pwrite = [](int, const void*, std::size_t, off_t) -> ssize_t {
    errno = EIO;
    return -1;
  };
  BackgroundFlush save = pool.begin_flush();
  std::error_code ec;
  save.wait(ec);
  platform::syscalls().pwrite = platform::real_syscalls().pwrite;
  EXPECT_EQ(ec, std::errc::io_error);
  EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 10));
  pool.begin_flush().wait();
  EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 11));
}

TEST(BackgroundFlush, RefusesWhatCannotSave) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 64 * kBlock;
  FileOptions small_budget = options_for(Changes::marked, 1);
  auto pool = FileBackedMemory::create(dir / "pool", kSize, kUserVersion, small_budget);
  try {
    pool.begin_flush();
    FAIL() << "a budget of one block was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
  pool.close();
  FileOptions read_only = options_for(Changes::marked);
  read_only.read_only = true;
  auto reader = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, read_only);
  EXPECT_THROW(reader.begin_flush(), Error);
  FileBackedMemory moved = std::move(reader);
  EXPECT_THROW(reader.begin_flush(), Error);  // NOLINT(bugprone-use-after-move)
  BackgroundFlush none;
  EXPECT_TRUE(none.done());
  EXPECT_THROW(none.wait(), Error);
}

TEST(BackgroundFlush, AKillMidSaveLeavesThePreviousSnapshot) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 2048 * kBlock;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    FileOptions options = options_for(Changes::compare);
    auto pool = FileBackedMemory::create(dir / "pool", kSize, kUserVersion, options);
    testing::fill_splitmix64(pool.data(), 12);
    pool.flush();
    testing::fill_splitmix64(pool.data(), 13);
    pool.close();
    static std::atomic<bool> saving{false};
    options.progress = [](std::uint64_t done, std::uint64_t total) {
      if (saving.load() && done * 2 >= total) raise(SIGKILL);
      return true;
    };
    auto again = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, options);
    testing::fill_splitmix64(again.data(), 14);
    saving.store(true);
    again.begin_flush().wait();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  FileOptions reopen = options_for(Changes::compare);
  reopen.accept_unclean = true;
  const auto opened = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, reopen);
  EXPECT_TRUE(testing::holds_splitmix64(opened.data(), 13));
}

// A hand-off waits for the background save running: the successor gets the
// pool with that save complete, and saves on incrementally.
TEST(BackgroundFlush, AHandOffWaitsForTheSave) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 1024 * kBlock;
  FileOptions options = options_for(Changes::marked);
  options.memory.shareable = true;
  auto pool = FileBackedMemory::create(dir / "pool", kSize, kUserVersion, options);
  pool.flush();  // both files now hold a snapshot and an index
  testing::fill_splitmix64(pool.data(), 15);
  pool.mark_dirty(0, kSize);
  BackgroundFlush save = pool.begin_flush();
  HandOff handed = pool.release();
  EXPECT_TRUE(save.done());
  save.wait();
  EXPECT_TRUE(testing::holds_splitmix64(data_of_file(dir / "pool", kSize), 15));
  auto successor = FileBackedMemory::adopt(std::move(handed), kSize, kUserVersion, options);
  EXPECT_TRUE(testing::holds_splitmix64(successor.data(), 15));
  successor.mark_dirty(0, 1);
  successor.data()[0] = std::byte{1};
  BackgroundFlush next = successor.begin_flush();
  next.wait();
  EXPECT_EQ(data_of_file(dir / "pool", kSize)[0], std::byte{1});
  // Incremental: the indexes were read from their files at this first save.
  // Block 0 (with data byte 0), and the blocks in which the two files
  // differ: all but the first, the spare holding the zeros of create().
  EXPECT_EQ(next.progress().total, kSize);
  successor.begin_flush().wait();  // both files hold the same snapshot again, but block 0
  successor.mark_dirty(5 * kBlock, 1);
  successor.data()[5 * kBlock] = std::byte{2};
  BackgroundFlush third = successor.begin_flush();
  third.wait();
  EXPECT_EQ(third.progress().total, 2 * kBlock - kHeaderSize);
}

// After open(), round after round: a block changed and marked, a background
// save while a writer overwrites every block, the pool's bytes put back.
TEST(BackgroundFlush, SavesRoundAfterRoundAfterOpen) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 12 * kBlock + 100;
  FileOptions options = options_for(Changes::marked);
  {
    auto pool = FileBackedMemory::create(dir / "pool", kSize, kUserVersion, options);
    testing::fill_splitmix64(pool.data(), 1);
    pool.mark_dirty(0, kSize);
    pool.flush();
    pool.flush();
  }
  options.accept_unclean = true;
  auto pool = FileBackedMemory::open(dir / "pool", kSize, kUserVersion, options);
  for (std::size_t round = 0; round < 3; ++round) {
    std::vector<std::byte> want(pool.data().begin(), pool.data().end());
    want[(5 + round) * kBlock] = std::byte{42};
    pool.data()[(5 + round) * kBlock] = std::byte{42};
    pool.mark_dirty((5 + round) * kBlock, 1);
    BackgroundFlush save = pool.begin_flush();
    for (std::size_t at = 0; at < kSize; at += kBlock) {
      pool.mark_dirty(at, kBlock);
      std::memset(pool.data().data() + at, 0x77, std::min(kBlock, kSize - at));
    }
    save.wait();
    for (std::size_t at = 0; at < kSize; at += kBlock) {
      pool.mark_dirty(at, kBlock);
      std::memcpy(pool.data().data() + at, want.data() + at, std::min(kBlock, kSize - at));
    }
    auto got = data_of_file(dir / "pool", kSize);
    for (std::size_t at = 0; at < kSize; at += kBlock) {
      if (std::memcmp(got.data() + at, want.data() + at, std::min(kBlock, kSize - at)) != 0) {
        ADD_FAILURE() << "round " << round << ": the block at " << at << " is off";
      }
    }
  }
}

}  // namespace
}  // namespace datatier
