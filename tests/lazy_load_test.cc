// A lazy open (FileOptions::lazy): the pool opens before its bytes are in,
// every byte any thread sees is the saved one, verified; damage is never
// served (or is zeroed, listed and heard, with salvage); a kill or a
// destruction mid-load changes no file; where lazy loading is not possible
// the open is eager and says so; and a loaded pool is as an eager one.
#include <gtest/gtest.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "child_process.h"
#include "datatier/datatier.h"
#include "platform/syscalls.h"
#include "temp_dir.h"
#include "test_util.h"

namespace datatier {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kUserVersion = 11;
constexpr std::size_t kKiB = std::size_t{1} << 10;
constexpr std::size_t kMiB = std::size_t{1} << 20;

// Sanitized builds run every byte comparison many times slower: the largest
// pools are smaller there, and still many units long.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t kLargeScale = 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr std::size_t kLargeScale = 4;
#else
constexpr std::size_t kLargeScale = 1;
#endif
#else
constexpr std::size_t kLargeScale = 1;
#endif

FileOptions lazy_options(std::size_t block_size = 0) {
  FileOptions options;
  options.lazy = true;
  options.block_size = block_size;
  return options;
}

FileOptions eager_options(std::size_t block_size = 0) {
  FileOptions options;
  options.block_size = block_size;
  return options;
}

// Empty when `actual` equals `expected`, else where they first differ.
std::string difference(std::span<const std::byte> actual, std::span<const std::byte> expected) {
  if (actual.size() != expected.size()) {
    std::string why = "sizes differ: ";
    why.append(std::to_string(actual.size()))
        .append(" and ")
        .append(std::to_string(expected.size()));
    return why;
  }
  const auto at = std::mismatch(actual.begin(), actual.end(), expected.begin());
  if (at.first == actual.end()) return {};
  std::string why = "first difference at ";
  why.append(std::to_string(at.first - actual.begin()));
  return why;
}

// Bytes [offset, offset + length) of a file.
std::vector<std::byte> file_bytes(const std::filesystem::path& path, std::uint64_t offset,
                                  std::size_t length) {
  std::vector<std::byte> bytes(length);
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(length));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

std::vector<std::byte> data_of_file(const std::filesystem::path& path, std::size_t size) {
  return file_bytes(path, kHeaderSize, size);
}

// The data range of the block of the index that holds data byte `at`
// (blocks count from the start of the file, whose first block holds the
// header): whole blocks, the last one cut at the end of the data.
ByteRange block_range(std::uint64_t at, std::size_t block_size, std::size_t size) {
  const std::uint64_t begin = (at + kHeaderSize) / block_size * block_size - kHeaderSize;
  return {begin, std::min<std::uint64_t>(block_size, size - begin)};
}

// How an error message names a damaged range.
std::string range_name(const ByteRange& range) {
  std::string name = std::to_string(range.offset);
  name.append("+").append(std::to_string(range.length));
  return name;
}

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// A pool file holding the stream of `seed` in its data and of `seed` + 1
// in its user area, closed cleanly (so that it has a block index, of
// `block_size`).
struct SavedPool {
  std::filesystem::path path;
  std::size_t size = 0;
  std::size_t block_size = 0;
  std::vector<std::byte> data;
  std::vector<std::byte> user_area;
};

SavedPool save_pool(const std::filesystem::path& path, std::size_t size, std::size_t block_size,
                    std::uint64_t seed) {
  SavedPool saved{path, size, block_size, testing::splitmix64_bytes(size, seed),
                  testing::splitmix64_bytes(kUserAreaSize, seed + 1)};
  auto pool = FileBackedMemory::create(path, size, kUserVersion, eager_options(block_size));
  std::copy(saved.data.begin(), saved.data.end(), pool.data().begin());
  std::copy(saved.user_area.begin(), saved.user_area.end(), pool.user_area().begin());
  pool.close();
  EXPECT_TRUE(std::filesystem::exists(FileBackedMemory::index_path(path)));
  return saved;
}

// Samples load_progress() on a thread of its own until stopped, checking
// that the load only goes forward and stays within the pool.
class ProgressWatch {
 public:
  explicit ProgressWatch(const FileBackedMemory& pool) : pool_(pool), thread_([this] { run(); }) {}
  ProgressWatch(const ProgressWatch&) = delete;
  ProgressWatch& operator=(const ProgressWatch&) = delete;
  ~ProgressWatch() { stop(); }

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  // Samples taken while the load was under way (some but not all in).
  std::size_t samples_mid_load() const { return mid_load_; }
  const std::string& complaint() const { return complaint_; }

 private:
  void run() {
    LoadProgress last = pool_.load_progress();
    while (!stop_.load() && complaint_.empty()) {
      const LoadProgress now = pool_.load_progress();
      if (now.loaded_bytes < last.loaded_bytes || now.damaged_bytes < last.damaged_bytes) {
        complaint_ = "progress went back";
      } else if (now.loaded_bytes + now.damaged_bytes > now.total_bytes) {
        complaint_ = "more bytes loaded than the pool holds";
      } else if (last.done && !now.done) {
        complaint_ = "done went back to not done";
      } else if (now.lazy != last.lazy || now.total_bytes != last.total_bytes) {
        complaint_ = "lazy or total_bytes changed";
      }
      if (!now.done && now.loaded_bytes > 0) ++mid_load_;
      last = now;
    }
  }

  const FileBackedMemory& pool_;
  std::atomic<bool> stop_{false};
  std::size_t mid_load_ = 0;
  std::string complaint_;
  std::thread thread_;
};

void expect_loaded_whole(const FileBackedMemory& pool, std::size_t size) {
  const LoadProgress progress = pool.load_progress();
  EXPECT_TRUE(progress.lazy);
  EXPECT_TRUE(progress.done);
  EXPECT_EQ(progress.total_bytes, size);
  EXPECT_EQ(progress.loaded_bytes, size);
  EXPECT_EQ(progress.damaged_bytes, 0u);
}

// ---------------------------------------------------------------------------
// What a lazy open gives.

struct Shape {
  std::size_t size;
  std::size_t block_size;  // 0: the default
  unsigned threads;        // 0: all cores
};

// Every byte of data() and user_area() is an eager open's, for pools whose
// size is a multiple of the 2 MiB unit or not (nor of a page), in blocks
// smaller than a unit, of the default size and larger than a unit.
TEST(LazyLoad, ContentsEqualAnEagerOpen) {
  const Shape shapes[] = {
      {8 * kMiB, 0, 0},
      {20 * kMiB + 12345, 4 * kKiB, 0},
      {37 * kMiB + 777, 4 * kMiB, 0},
      {64 * kMiB / kLargeScale, 64 * kKiB, 1},
  };
  for (const Shape& shape : shapes) {
    SCOPED_TRACE(::testing::Message() << "size " << shape.size << ", block size "
                                      << shape.block_size << ", threads " << shape.threads);
    const testing::TempDir dir;
    const SavedPool saved = save_pool(dir / "pool", shape.size, shape.block_size, shape.size);
    std::vector<std::byte> eager_data;
    std::vector<std::byte> eager_user_area;
    {
      FileOptions options = eager_options(shape.block_size);
      options.read_only = true;
      const auto eager = FileBackedMemory::open(saved.path, shape.size, kUserVersion, options);
      eager_data.assign(eager.data().begin(), eager.data().end());
      eager_user_area.assign(eager.user_area().begin(), eager.user_area().end());
      EXPECT_FALSE(eager.load_progress().lazy);
    }
    ASSERT_EQ(difference(eager_data, saved.data), "");
    FileOptions options = lazy_options(shape.block_size);
    options.threads = shape.threads;
    auto pool = FileBackedMemory::open(saved.path, shape.size, kUserVersion, options);
    EXPECT_TRUE(pool.load_progress().lazy);
    EXPECT_EQ(pool.load_progress().total_bytes, shape.size);
    EXPECT_EQ(pool.data().size(), shape.size);
    {
      ProgressWatch watch(pool);
      EXPECT_EQ(difference(pool.user_area(), eager_user_area), "");
      EXPECT_EQ(difference(pool.data(), eager_data), "");
      pool.wait_loaded();
      watch.stop();
      EXPECT_EQ(watch.complaint(), "");
    }
    expect_loaded_whole(pool, shape.size);
    const auto before = Clock::now();
    pool.wait_loaded();  // a second time: at once
    EXPECT_LT(Clock::now() - before, 100ms);
    EXPECT_TRUE(pool.damaged().empty());
    EXPECT_EQ(difference(pool.data(), eager_data), "");
    EXPECT_FALSE(pool.recovery().used_previous);
    pool.close();
    const auto reopened = FileBackedMemory::open(saved.path, shape.size, kUserVersion,
                                                 eager_options(shape.block_size));
    EXPECT_EQ(difference(reopened.data(), saved.data), "");
    EXPECT_EQ(difference(reopened.user_area(), saved.user_area), "");
  }
}

class LazyLoadBlocks : public ::testing::TestWithParam<std::size_t> {};

std::string block_name(const ::testing::TestParamInfo<std::size_t>& param) {
  return std::to_string(param.param / kKiB) + "KiB";
}

// Eight threads read slices at random places from the moment open()
// returns: each slice, whatever units it spans and whether or not they are
// in yet, holds the saved bytes.
TEST_P(LazyLoadBlocks, ReadersOnManyThreadsSeeTheSavedBytesDuringTheLoad) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 48 * kMiB + 4321;
  const SavedPool saved = save_pool(dir / "pool", kSize, GetParam(), 21);
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options(GetParam()));
  EXPECT_TRUE(pool.load_progress().lazy);
  constexpr unsigned kThreads = 8;
  std::atomic<std::size_t> wrong{0};
  std::atomic<std::size_t> during_load{0};
  std::vector<std::thread> readers;
  for (unsigned t = 0; t < kThreads; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 random(t + 1);
      const std::span<const std::byte> data = std::as_const(pool).data();
      for (int read = 0; read < 3000; ++read) {
        const bool loading = !pool.load_progress().done;
        const std::size_t length = 1 + random() % (8 * kKiB);
        const std::size_t at = random() % (kSize - length + 1);
        if (std::memcmp(data.data() + at, saved.data.data() + at, length) != 0) ++wrong;
        if (loading) ++during_load;
      }
    });
  }
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(wrong.load(), 0u);
  ::testing::Test::RecordProperty("reads_during_load", static_cast<int>(during_load.load()));
  pool.wait_loaded();
  expect_loaded_whole(pool, kSize);
  EXPECT_EQ(difference(pool.data(), saved.data), "");
}

// Writers write from the moment open() returns, each into a region of its
// own, each write marked first; what they wrote, and the saved bytes
// around it, are what the next save keeps.
TEST_P(LazyLoadBlocks, WritesDuringTheLoadAreKeptAndSaved) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 48 * kMiB + 4321;
  SavedPool saved = save_pool(dir / "pool", kSize, GetParam(), 22);
  std::vector<std::byte>& expected = saved.data;
  FileOptions options = lazy_options(GetParam());
  options.changes = Changes::marked;
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
  EXPECT_TRUE(pool.load_progress().lazy);
  constexpr unsigned kThreads = 8;
  constexpr std::size_t kRegion = kSize / kThreads;
  std::atomic<std::size_t> wrong{0};
  std::vector<std::thread> writers;
  for (unsigned t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 random(100 + t);
      const std::span<std::byte> data = pool.data();
      for (int write = 0; write < 300; ++write) {
        const std::size_t length = 1 + random() % (16 * kKiB);
        const std::size_t at = t * kRegion + random() % (kRegion - length + 1);
        // What is there first: the saved bytes or this writer's own.
        if (std::memcmp(data.data() + at, expected.data() + at, length) != 0) ++wrong;
        const auto value = static_cast<std::byte>(random());
        pool.mark_dirty(at, length);
        std::memset(data.data() + at, static_cast<int>(value), length);
        std::fill_n(expected.begin() + static_cast<std::ptrdiff_t>(at), length, value);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  EXPECT_EQ(wrong.load(), 0u);
  pool.wait_loaded();
  EXPECT_EQ(difference(pool.data(), expected), "");
  pool.flush();
  EXPECT_EQ(difference(data_of_file(saved.path, kSize), expected), "");
  pool.close();
  const auto reopened =
      FileBackedMemory::open(saved.path, kSize, kUserVersion, eager_options(GetParam()));
  EXPECT_EQ(difference(reopened.data(), expected), "");
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, LazyLoadBlocks,
                         ::testing::Values(4 * kKiB, 64 * kKiB, 4 * kMiB), block_name);

// A save right after a lazy open (flush() with either way of finding
// changes, begin_flush(), close()) waits for the load, then saves the
// memory as it is, writes made during the load included.
TEST(LazyLoad, ASaveDuringTheLoadSavesTheMemory) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 40 * kMiB + 100;
  SavedPool saved = save_pool(dir / "pool", kSize, 0, 23);
  enum class Save { flush_compared, flush_marked, background, close };
  for (const Save save :
       {Save::flush_compared, Save::flush_marked, Save::background, Save::close}) {
    SCOPED_TRACE(::testing::Message() << "save " << static_cast<int>(save));
    FileOptions options = lazy_options();
    options.changes = save == Save::flush_compared ? Changes::compare : Changes::marked;
    auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
    EXPECT_TRUE(pool.load_progress().lazy);
    for (const std::size_t at : {std::size_t{5}, kSize / 2 + 1, kSize - 1}) {
      pool.mark_dirty(at, 1);
      pool.data()[at] ^= std::byte{0x5a};
      saved.data[at] ^= std::byte{0x5a};
    }
    switch (save) {
      case Save::flush_compared:
      case Save::flush_marked:
        pool.flush();
        break;
      case Save::background:
        pool.begin_flush().wait();
        break;
      case Save::close:
        pool.close();
        break;
    }
    EXPECT_EQ(difference(data_of_file(saved.path, kSize), saved.data), "");
    if (save != Save::close) {
      EXPECT_TRUE(pool.load_progress().done);
      EXPECT_EQ(difference(pool.data(), saved.data), "");
      pool.close();
    }
  }
  const auto reopened = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options());
  EXPECT_EQ(difference(reopened.data(), saved.data), "");
  EXPECT_EQ(difference(reopened.user_area(), saved.user_area), "");
}

// A read-only pool loads lazily too, and still writes nothing.
TEST(LazyLoad, AReadOnlyOpenLoadsLazily) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 24 * kMiB + 3;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 24);
  FileOptions options = lazy_options();
  options.read_only = true;
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
  EXPECT_TRUE(pool.load_progress().lazy);
  EXPECT_EQ(difference(std::as_const(pool).data(), saved.data), "");
  EXPECT_EQ(difference(std::as_const(pool).user_area(), saved.user_area), "");
  pool.wait_loaded();
  expect_loaded_whole(pool, kSize);
  EXPECT_DATATIER_ERROR(pool.flush(), std::errc::operation_not_permitted);
  // A second reader, while the first holds the file.
  auto second = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
  EXPECT_EQ(difference(std::as_const(second).data(), saved.data), "");
  second.wait_loaded();
}

// ---------------------------------------------------------------------------
// Damage found by the load.

enum class Where { early, middle, late };

const char* where_name(Where where) {
  switch (where) {
    case Where::early:
      return "early";
    case Where::middle:
      return "middle";
    case Where::late:
      return "late";
  }
  return "?";
}

void PrintTo(Where where, std::ostream* out) {
  *out << where_name(where);
}

class LazyLoadDamage : public ::testing::TestWithParam<std::tuple<Where, std::size_t>> {
 protected:
  static constexpr std::size_t kSize = 16 * kMiB + 3000;

  void SetUp() override {
    block_size_ = std::get<1>(GetParam());
    saved_ = save_pool(dir_ / "pool", kSize, block_size_, 31);
    // A byte of the first unit (past the first block, which open() checks
    // itself), of the middle, or of the last block.
    switch (std::get<0>(GetParam())) {
      case Where::early:
        at_ = std::max(70 * kKiB, block_size_) + 5;
        break;
      case Where::middle:
        at_ = kSize / 2 + 11;
        break;
      case Where::late:
        at_ = kSize - 7;
        break;
    }
    range_ = block_range(at_, block_size_, kSize);
    ASSERT_GT(range_.offset, 0u);
    testing::flip_byte(saved_.path, kHeaderSize + at_, std::byte{0x10});
    damaged_file_ = data_of_file(saved_.path, kSize);
  }

  std::span<const std::byte> expected(std::uint64_t offset, std::uint64_t length) const {
    return std::span<const std::byte>(saved_.data).subspan(offset, length);
  }

  // Every byte but those of the damaged range is the saved one.
  void expect_rest_intact(std::span<const std::byte> data) const {
    const std::uint64_t end = range_.offset + range_.length;
    EXPECT_EQ(difference(data.subspan(0, range_.offset), expected(0, range_.offset)), "");
    EXPECT_EQ(difference(data.subspan(end), expected(end, kSize - end)), "");
  }

  // The load ended, with the damaged range counted as damaged.
  void expect_loaded_but_damaged(const FileBackedMemory& pool) const {
    const LoadProgress progress = pool.load_progress();
    EXPECT_TRUE(progress.lazy);
    EXPECT_TRUE(progress.done);
    EXPECT_EQ(progress.total_bytes, kSize);
    EXPECT_EQ(progress.damaged_bytes, range_.length);
    EXPECT_EQ(progress.loaded_bytes, kSize - range_.length);
  }

  void expect_damage_named(const Error& e) const {
    EXPECT_EQ(e.code(), errc::checksum_mismatch) << e.what();
    EXPECT_NE(std::string(e.what()).find(range_name(range_)), std::string::npos) << e.what();
  }

  testing::TempDir dir_;
  std::size_t block_size_ = 0;
  SavedPool saved_;
  std::uint64_t at_ = 0;
  ByteRange range_;
  std::vector<std::byte> damaged_file_;
};

// With salvage, the damaged block reads as zeros (also to a thread that
// touched it before the load came to it), is heard by on_damage before
// any thread sees it and listed by damaged(); the next flush() saves the
// zeros, after which the file opens cleanly.
TEST_P(LazyLoadDamage, SalvagedBlocksReadAsZerosAreHeardListedAndSaved) {
  std::mutex heard_lock;
  std::vector<ByteRange> heard;
  FileOptions options = lazy_options(block_size_);
  options.salvage = true;
  options.on_damage = [&](const ByteRange& range) {
    const std::lock_guard lock(heard_lock);
    heard.push_back(range);
  };
  {
    auto pool = FileBackedMemory::open(saved_.path, kSize, kUserVersion, options);
    EXPECT_TRUE(pool.load_progress().lazy);
    std::thread first_reader([&] {
      const auto block = std::as_const(pool).data().subspan(range_.offset, range_.length);
      EXPECT_TRUE(all_zero(block));
      const std::lock_guard lock(heard_lock);
      EXPECT_EQ(std::count(heard.begin(), heard.end(), range_), 1)
          << "not heard before it was seen";
    });
    first_reader.join();
    // Until wait_loaded() returns, damaged() lists only what open() found.
    EXPECT_TRUE(pool.damaged().empty());
    pool.wait_loaded();
    expect_loaded_but_damaged(pool);
    EXPECT_EQ(pool.damaged(), std::vector<ByteRange>{range_});
    {
      const std::lock_guard lock(heard_lock);
      EXPECT_EQ(heard, std::vector<ByteRange>{range_});
    }
    expect_rest_intact(pool.data());
    EXPECT_TRUE(all_zero(pool.data().subspan(range_.offset, range_.length)));
    pool.flush();
    // Destroyed without close(): that one flush() saved the zeros.
  }
  std::vector<std::byte> zeroed = saved_.data;
  std::fill_n(zeroed.begin() + static_cast<std::ptrdiff_t>(range_.offset), range_.length,
              std::byte{0});
  EXPECT_EQ(difference(data_of_file(saved_.path, kSize), zeroed), "");
  FileOptions clean = eager_options(block_size_);
  clean.accept_unclean = true;
  {
    auto reopened = FileBackedMemory::open(saved_.path, kSize, kUserVersion, clean);
    EXPECT_TRUE(reopened.damaged().empty());
    EXPECT_EQ(difference(reopened.data(), zeroed), "");
    reopened.close();
  }
  heard.clear();
  auto again = FileBackedMemory::open(saved_.path, kSize, kUserVersion, options);
  again.wait_loaded();
  EXPECT_TRUE(again.damaged().empty());
  EXPECT_TRUE(heard.empty());
  EXPECT_EQ(difference(again.data(), zeroed), "");
}

// Without salvage, the damaged block is never served: a thread touching it
// dies of SIGBUS (in a child, touching it first, before the load came to
// it); every other byte is served; wait_loaded() names the range, every
// time; no save may run; and the file stays as it was.
// The exit status of a child that got SIGBUS at the address it touched (its
// own handler: a sanitizer's would exit with a status of its own). The
// signal's code varies between kernels (BUS_MCEERR_AR, BUS_ADRERR).
constexpr int kPoisonedExit = 70;
constexpr int kOtherSigbusExit = 71;
const volatile std::byte* touched = nullptr;

// Ends the whole process at once through the system call itself: _exit()
// is intercepted by ThreadSanitizer, which would report the loader threads
// still running as leaked and exit with a status of its own.
[[noreturn]] void exit_now(int status) {
  ::syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

void exit_on_sigbus(int, siginfo_t* info, void*) {
  exit_now(info->si_addr == touched ? kPoisonedExit : kOtherSigbusExit);
}

TEST_P(LazyLoadDamage, UnsalvagedBlocksAreNeverServed) {
  const std::uint64_t touch = at_;
  const pid_t child = testing::spawn([&] {
    struct sigaction action = {};
    action.sa_sigaction = exit_on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &action, nullptr);
    auto pool = FileBackedMemory::open(saved_.path, kSize, kUserVersion, lazy_options(block_size_));
    touched = pool.data().data() + touch;
    const std::byte served = *touched;
    return served == std::byte{0} ? 3 : 4;
  });
  EXPECT_EQ(testing::wait_for(child), kPoisonedExit);

  FileOptions options = lazy_options(block_size_);
  options.accept_unclean = true;  // the child died holding the file
  {
    auto pool = FileBackedMemory::open(saved_.path, kSize, kUserVersion, options);
    EXPECT_TRUE(pool.load_progress().lazy);
    expect_rest_intact(std::as_const(pool).data());
    for (int call = 0; call < 2; ++call) {
      try {
        pool.wait_loaded();
        ADD_FAILURE() << "wait_loaded() returned over a damaged block";
      } catch (const Error& e) {
        expect_damage_named(e);
      }
    }
    std::error_code ec;
    pool.wait_loaded(ec);
    EXPECT_EQ(ec, errc::checksum_mismatch);
    expect_loaded_but_damaged(pool);
    EXPECT_TRUE(pool.damaged().empty());
    EXPECT_DATATIER_ERROR(pool.flush(), errc::checksum_mismatch);
    EXPECT_DATATIER_ERROR(pool.flush_full(), errc::checksum_mismatch);
    EXPECT_DATATIER_ERROR(pool.begin_flush(), errc::checksum_mismatch);
    EXPECT_DATATIER_ERROR(pool.close(), errc::checksum_mismatch);
    expect_rest_intact(std::as_const(pool).data());  // still held after the failed close()
  }
  EXPECT_EQ(difference(data_of_file(saved_.path, kSize), damaged_file_), "");
  FileOptions eager = eager_options(block_size_);
  eager.accept_unclean = true;
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(saved_.path, kSize, kUserVersion, eager),
                        errc::checksum_mismatch);
}

std::string damage_name(const ::testing::TestParamInfo<std::tuple<Where, std::size_t>>& param) {
  std::string name = where_name(std::get<0>(param.param));
  name.append("_").append(std::to_string(std::get<1>(param.param) / kKiB)).append("KiB");
  return name;
}

INSTANTIATE_TEST_SUITE_P(Places, LazyLoadDamage,
                         ::testing::Combine(::testing::Values(Where::early, Where::middle,
                                                              Where::late),
                                            ::testing::Values(4 * kKiB, 64 * kKiB, 4 * kMiB)),
                         damage_name);

// Damage to the first block, which holds the header, is found by open()
// itself and answered as by an eager open: the error, salvage or not.
TEST(LazyLoad, DamageInTheFirstBlockFailsTheOpen) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 16 * kMiB;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 41);
  testing::flip_byte(saved.path, kHeaderSize + 100);
  FileOptions options = lazy_options();
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(saved.path, kSize, kUserVersion, options),
                        errc::checksum_mismatch);
  options.salvage = true;
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(saved.path, kSize, kUserVersion, options),
                        errc::checksum_mismatch);
  testing::flip_byte(saved.path, kHeaderSize + 100);  // undone
  testing::flip_byte(saved.path, kUserAreaOffset + 5);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(saved.path, kSize, kUserVersion, options),
                        errc::checksum_mismatch);
}

// ... or by the previous snapshot, with fallback_to_previous.
TEST(LazyLoad, DamageInTheFirstBlockFallsBackToThePreviousSnapshot) {
  const testing::TempDir dir;
  const auto path = dir / "pool";
  constexpr std::size_t kSize = 16 * kMiB + 5;
  {
    auto pool = FileBackedMemory::create(path, kSize, kUserVersion);
    testing::fill_splitmix64(pool.data(), 42);
    pool.flush();
    testing::fill_splitmix64(pool.data(), 43);
    pool.close();
  }
  testing::flip_byte(path, kHeaderSize + 100);
  FileOptions options = lazy_options();
  options.fallback_to_previous = true;
  auto pool = FileBackedMemory::open(path, kSize, kUserVersion, options);
  EXPECT_TRUE(pool.recovery().used_previous);
  EXPECT_EQ(pool.recovery().reason, errc::checksum_mismatch);
  EXPECT_TRUE(std::filesystem::exists(pool.recovery().set_aside));
  EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 42));
  pool.wait_loaded();
  EXPECT_TRUE(pool.load_progress().done);
  EXPECT_TRUE(testing::holds_splitmix64(pool.data(), 42));
}

// ---------------------------------------------------------------------------
// Ends mid-load.

// A process killed while its pool loads leaves every file as it was, but
// for the in-use mark its open() set: the snapshot opens, eagerly and
// lazily, once the caller accepts the unclean end.
TEST(LazyLoad, AKillMidLoadLeavesTheFilesAsTheyWere) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 256 * kMiB / kLargeScale;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 51);
  const auto index = testing::read_file(FileBackedMemory::index_path(saved.path));
  const Header header = read_header(saved.path);

  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = testing::spawn([&] {
    auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options());
    // Where the load was when killed: 'm' mid-way, 'd' done already, 'e'
    // not lazy at all.
    char state = 'e';
    for (LoadProgress progress = pool.load_progress(); progress.lazy;
         progress = pool.load_progress()) {
      if (progress.done) {
        state = 'd';
        break;
      }
      if (progress.loaded_bytes > 0) {
        state = 'm';
        break;
      }
    }
    static_cast<void>(::write(pipe_fds[1], &state, 1));
    ::raise(SIGKILL);
    return 0;
  });
  ::close(pipe_fds[1]);
  char state = '?';
  EXPECT_EQ(::read(pipe_fds[0], &state, 1), 1);
  ::close(pipe_fds[0]);
  ASSERT_EQ(testing::wait_for(child), 128 + SIGKILL);
  EXPECT_EQ(state, 'm') << "d: the load was done before the child looked; e: not lazy";

  EXPECT_EQ(difference(data_of_file(saved.path, kSize), saved.data), "");
  EXPECT_EQ(difference(testing::read_file(FileBackedMemory::index_path(saved.path)), index), "");
  EXPECT_EQ(read_header(saved.path).checksum, header.checksum);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(saved.path, kSize, kUserVersion),
                        errc::unclean_shutdown);
  EXPECT_DATATIER_ERROR(FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options()),
                        errc::unclean_shutdown);
  {
    FileOptions options;
    options.read_only = true;
    options.accept_unclean = true;
    const auto eager = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
    EXPECT_EQ(difference(eager.data(), saved.data), "");
  }
  FileOptions options = lazy_options();
  options.accept_unclean = true;
  {
    auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
    EXPECT_TRUE(pool.load_progress().lazy);
    EXPECT_EQ(difference(pool.data(), saved.data), "");
    EXPECT_EQ(difference(pool.user_area(), saved.user_area), "");
    pool.close();
  }
  const auto clean = FileBackedMemory::open(saved.path, kSize, kUserVersion);
  EXPECT_EQ(difference(clean.data(), saved.data), "");
}

// Destroying a pool mid-load stops the load at once and changes no file;
// the files are free for the next open.
TEST(LazyLoad, DestroyingThePoolMidLoadIsPromptAndChangesNoFile) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 128 * kMiB / kLargeScale;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 52);
  const auto index = testing::read_file(FileBackedMemory::index_path(saved.path));
  std::optional<FileBackedMemory> pool;
  pool.emplace(FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options()));
  EXPECT_TRUE(pool->load_progress().lazy);
  // The last unit, fetched out of turn for a reader, before the pool goes.
  std::thread reader([&] { EXPECT_EQ(std::as_const(*pool).data().back(), saved.data.back()); });
  reader.join();
  EXPECT_FALSE(pool->load_progress().done) << "loaded before it could be destroyed mid-load";
  const auto before = Clock::now();
  pool.reset();
  const Clock::duration destruction = Clock::now() - before;
  EXPECT_LT(destruction, 1s);
  EXPECT_EQ(difference(data_of_file(saved.path, kSize), saved.data), "");
  EXPECT_EQ(difference(testing::read_file(FileBackedMemory::index_path(saved.path)), index), "");
  FileOptions options = lazy_options();
  options.accept_unclean = true;
  auto reopened = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
  reopened.wait_loaded();
  EXPECT_EQ(difference(reopened.data(), saved.data), "");
}

// A child forked during the load never reads bytes the load has not
// verified: the pool's memory is not mapped in it (a touch is SIGSEGV),
// while a child forked after the load inherits the pool as usual.
constexpr int kSegvExit = 72;

void exit_on_sigsegv(int) {
  exit_now(kSegvExit);
}

TEST(LazyLoad, AChildForkedDuringTheLoadReadsNothingUnverified) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 64 * kMiB / kLargeScale;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 54);
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options());
  const auto child_reads_last_byte = [&] {
    return testing::spawn([&] {
      signal(SIGSEGV, exit_on_sigsegv);
      const volatile std::byte* last = pool.data().data() + kSize - 1;
      return *last == saved.data.back() ? 0 : 1;
    });
  };
  const bool loading = !pool.load_progress().done;
  const int during = testing::wait_for(child_reads_last_byte());
  // Forked before the load ended: no mapping; or, where the load ended
  // first, the verified bytes. Never other bytes.
  EXPECT_TRUE(during == kSegvExit || during == 0) << during;
  if (loading) RecordProperty("forked_mid_load", during == kSegvExit ? "yes" : "no");
  pool.wait_loaded();
  EXPECT_EQ(testing::wait_for(child_reads_last_byte()), 0);
}

// A pool moved mid-load goes on loading under its new handle; the handle
// moved from has no pool.
TEST(LazyLoad, AMovedPoolGoesOnLoadingAndTheMovedFromOneThrows) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 32 * kMiB;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 53);
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options());
  FileBackedMemory moved = std::move(pool);
  EXPECT_DATATIER_ERROR(pool.wait_loaded(),
                        std::errc::bad_file_descriptor);  // NOLINT(bugprone-use-after-move)
  std::error_code ec;
  pool.wait_loaded(ec);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  EXPECT_TRUE(moved.load_progress().lazy);
  EXPECT_EQ(difference(moved.data(), saved.data), "");
  moved.wait_loaded();
  expect_loaded_whole(moved, kSize);
  pool = std::move(moved);
  pool.wait_loaded();
  EXPECT_DATATIER_ERROR(moved.wait_loaded(),
                        std::errc::bad_file_descriptor);  // NOLINT(bugprone-use-after-move)
  pool.close();
}

// ---------------------------------------------------------------------------
// Where lazy loading is not possible.

// The fallbacks a handler heard, by kind.
class Heard {
 public:
  FallbackHandler handler() {
    return [this](const Fallback& fallback) {
      const std::lock_guard lock(lock_);
      fallbacks_.push_back(fallback);
    };
  }
  std::vector<Fallback> of(FallbackKind kind) const {
    const std::lock_guard lock(lock_);
    std::vector<Fallback> found;
    std::copy_if(fallbacks_.begin(), fallbacks_.end(), std::back_inserter(found),
                 [kind](const Fallback& f) { return f.kind == kind; });
    return found;
  }

 private:
  mutable std::mutex lock_;
  std::vector<Fallback> fallbacks_;
};

// Opens `saved` lazily with `options`, expecting an eager load, said once;
// returns what was said.
std::string expect_eager_and_said(const SavedPool& saved, FileOptions options) {
  Heard heard;
  options.lazy = true;
  options.on_fallback = heard.handler();
  auto pool = FileBackedMemory::open(saved.path, saved.size, kUserVersion, options);
  const auto eager_loads = heard.of(FallbackKind::eager_load);
  EXPECT_EQ(eager_loads.size(), 1u);
  const std::string message = eager_loads.empty() ? std::string() : eager_loads[0].message;
  EXPECT_FALSE(message.empty());
  const LoadProgress progress = pool.load_progress();
  EXPECT_FALSE(progress.lazy);
  EXPECT_TRUE(progress.done);
  EXPECT_EQ(progress.loaded_bytes, saved.size);
  EXPECT_EQ(progress.total_bytes, saved.size);
  pool.wait_loaded();
  EXPECT_EQ(difference(pool.data(), saved.data), "");
  EXPECT_EQ(difference(pool.user_area(), saved.user_area), "");
  pool.close();
  return message;
}

TEST(LazyLoad, WithoutAValidIndexTheOpenIsEagerAndSaysSo) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 12 * kMiB + 1;
  const SavedPool saved = save_pool(dir / "pool", kSize, 64 * kKiB, 61);
  {
    SCOPED_TRACE("an index of another block size");
    EXPECT_NE(expect_eager_and_said(saved, eager_options(4 * kKiB)).find("index"),
              std::string::npos);
  }
  // That close() saved in 4 KiB blocks; the pool file's index is of them.
  {
    SCOPED_TRACE("a damaged index");
    testing::flip_byte(FileBackedMemory::index_path(saved.path), 64 + 32 * 5 + 1);
    EXPECT_NE(expect_eager_and_said(saved, eager_options(4 * kKiB)).find("index"),
              std::string::npos);
  }
  {
    SCOPED_TRACE("no index");
    std::filesystem::remove(FileBackedMemory::index_path(saved.path));
    EXPECT_NE(expect_eager_and_said(saved, eager_options(4 * kKiB)).find("index"),
              std::string::npos);
  }
}

TEST(LazyLoad, MemoryThatLazyLoadingDoesNotServeIsLoadedEagerly) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 8 * kMiB;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 62);
  {
    SCOPED_TRACE("shareable memory");
    FileOptions options;
    options.memory.shareable = true;
    static_cast<void>(expect_eager_and_said(saved, options));
  }
  {
    SCOPED_TRACE("locked memory");
    FileOptions options;
    options.memory.lock = true;
    static_cast<void>(expect_eager_and_said(saved, options));
  }
}

// ---------------------------------------------------------------------------
// After the load.

// Once loaded, the pool's memory is placed as an eager open places it:
// where the kernel gave the eager pool transparent huge pages, it gives
// the lazy one about as many.
TEST(LazyLoad, ALoadedPoolHasTheHugePagesOfAnEagerOne) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 64 * kMiB / kLargeScale;
  const SavedPool saved = save_pool(dir / "pool", kSize, 0, 71);
  std::size_t eager_huge = 0;
  {
    auto eager = FileBackedMemory::open(saved.path, kSize, kUserVersion);
    eager_huge = eager.placement().huge_bytes;
    eager.close();
  }
  if (eager_huge == 0) GTEST_SKIP() << "the kernel gave an eager open no huge pages";
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options());
  EXPECT_TRUE(pool.load_progress().lazy);
  pool.wait_loaded();
  const Placement placement = pool.placement();
  EXPECT_EQ(placement.page_size, PageSize::transparent);
  EXPECT_GE(placement.huge_bytes, eager_huge / 2)
      << "eager " << eager_huge << " bytes in huge pages, lazy " << placement.huge_bytes;
  EXPECT_EQ(difference(pool.data(), saved.data), "");
}

// Where the system refuses the load threads, those that started do the work,
// and the calling thread reads in order when no reader started: the pool
// is whole either way, and the refusal is heard as fewer_threads.
TEST(LazyLoad, RefusedThreadsLeaveTheLoadToTheOthersAndAreHeard) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 24 * kMiB + 4097;
  const SavedPool saved = save_pool(dir / "pool", kSize, 64 * kKiB, 82);
  const testing::RestoreSyscalls restore;
  static std::atomic<int> allowed{0};
  platform::syscalls().pthread_create = [](pthread_t* thread, const pthread_attr_t* attributes,
                                           void* (*start)(void*), void* argument) {
    if (allowed.fetch_sub(1) <= 0) return EAGAIN;
    return platform::real_syscalls().pthread_create(thread, attributes, start, argument);
  };
  // None (the caller loads it all), the fault thread only, and it with one
  // reader.
  for (const int threads : {0, 1, 2}) {
    SCOPED_TRACE(::testing::Message() << threads << " threads allowed");
    allowed = threads;
    Heard heard;
    FileOptions options = lazy_options(64 * kKiB);
    options.on_fallback = heard.handler();
    auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, options);
    EXPECT_TRUE(pool.load_progress().lazy);
    EXPECT_EQ(heard.of(FallbackKind::fewer_threads).size(), 1u);
    if (threads == 0) {
      EXPECT_TRUE(pool.load_progress().done);
    }
    pool.wait_loaded();
    EXPECT_EQ(difference(pool.data(), saved.data), "");
    allowed = 1000;
    pool.close();
  }
}

// On a kernel without UFFDIO_MOVE (Linux 6.6, 6.7) units are copied into
// place and the pool's huge pages are restored at the end (MADV_COLLAPSE):
// the same bytes, and huge pages where an eager open has them.
TEST(LazyLoad, WithoutTheMoveUnitsAreCopiedAndHugePagesRestored) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 32 * kMiB + 4097;
  const SavedPool saved = save_pool(dir / "pool", kSize, 64 * kKiB, 83);
  std::size_t eager_huge = 0;
  {
    FileOptions options = eager_options(64 * kKiB);
    options.read_only = true;
    eager_huge = FileBackedMemory::open(saved.path, kSize, kUserVersion, options)
                     .placement()
                     .huge_bytes;
  }
  const testing::RestoreSyscalls restore;
  platform::syscalls().ioctl = [](int fd, unsigned long request, void* argument) {
    const int rc = platform::real_syscalls().ioctl(fd, request, argument);
    // The kernel's offer, without the move (feature bit 16).
    if (rc == 0 && request == UFFDIO_API) {
      static_cast<uffdio_api*>(argument)->features &= ~(std::uint64_t{1} << 16);
    }
    return rc;
  };
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options(64 * kKiB));
  EXPECT_TRUE(pool.load_progress().lazy);
  EXPECT_EQ(difference(pool.data(), saved.data), "");
  pool.wait_loaded();
  EXPECT_EQ(difference(pool.data(), saved.data), "");
  if (eager_huge == 0) GTEST_SKIP() << "no huge pages here to compare with";
  EXPECT_GE(pool.placement().huge_bytes, eager_huge / 2);
}

// ---------------------------------------------------------------------------
// userfaultfd refused.

// Where the system refuses userfaultfd both ways (the system call: EPERM, not
// allowed to this process; ENOSYS, a kernel without it; EINVAL, flags it
// does not know; and /dev/userfaultfd), the open is eager and says so. With
// the system call refused and the device allowed, the load is lazy.
TEST(LazyLoad, UserfaultfdRefusedMeansAnEagerOpenThatSaysSo) {
  const testing::TempDir dir;
  constexpr std::size_t kSize = 10 * kMiB + 4097;
  const SavedPool saved = save_pool(dir / "pool", kSize, 64 * kKiB, 81);
  const testing::RestoreSyscalls restore;
  static int refusal = 0;
  platform::syscalls().userfaultfd = [](int) {
    errno = refusal;
    return -1;
  };
  for (const int error : {EPERM, ENOSYS, EINVAL}) {
    SCOPED_TRACE(::testing::Message() << "errno " << error);
    refusal = error;
    // The device route first, allowed: the load is lazy.
    {
      auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options(64 * kKiB));
      EXPECT_TRUE(pool.load_progress().lazy);
      pool.wait_loaded();
      EXPECT_EQ(difference(pool.data(), saved.data), "");
      pool.close();
    }
    platform::syscalls().openat = [](int dirfd, const char* path, int flags, mode_t mode) {
      if (std::string_view(path) == "/dev/userfaultfd") {
        errno = EACCES;
        return -1;
      }
      return platform::real_syscalls().openat(dirfd, path, flags, mode);
    };
    EXPECT_NE(expect_eager_and_said(saved, eager_options(64 * kKiB)).find("userfaultfd"),
              std::string::npos);
    platform::syscalls().openat = platform::real_syscalls().openat;
  }
  platform::syscalls().userfaultfd = platform::real_syscalls().userfaultfd;
  // And with the real call back, the same file loads lazily.
  auto pool = FileBackedMemory::open(saved.path, kSize, kUserVersion, lazy_options(64 * kKiB));
  EXPECT_TRUE(pool.load_progress().lazy);
  pool.wait_loaded();
  EXPECT_EQ(difference(pool.data(), saved.data), "");
}

}  // namespace
}  // namespace datatier
