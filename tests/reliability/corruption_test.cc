// Corruption: whole header fields and whole data pages corrupted in turn give
// the exact error, from open() of both pools and from verify_file(); random
// single-bit flips anywhere in a pool file are all detected; and in pools of
// several hash tasks and I/O blocks, a flipped byte in any of them is.
// Complements tests/file_pool_test.cc (one byte per field).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "datatier/datatier.h"
#include "pool_kinds.h"
#include "test_util.h"

namespace datatier {
namespace {

using testing::FileBackedMemoryKind;
using testing::MmapFileKind;
using testing::TempDir;

constexpr std::uint64_t kUserVersion = 3;

// Header field offsets and sizes (docs/format.md, "Header").
struct Field {
  const char* name;
  std::size_t offset;
  std::size_t size;
};
constexpr Field kChecksum{"checksum", 0, 32};
constexpr Field kMagic{"magic", 32, 8};
constexpr Field kVersion{"version", 40, 8};
constexpr Field kMonotonicSeconds{"time_monotonic_s", 48, 4};
constexpr Field kUnixSeconds{"time_unix_s", 52, 4};
constexpr Field kMonotonicNanos{"time_monotonic_ns", 56, 8};
constexpr Field kUnixNanos{"time_unix_ns", 64, 8};
constexpr Field kUserVersionField{"user_version", 72, 8};
constexpr Field kOptions{"options", 80, 8};
constexpr Field kDataSizeField{"data_size", 88, 8};
constexpr Field kPadding{"padding", 96, 512 - 96};
// Marks a file in use (open() writes it); not covered by the checksum.
constexpr Field kInUseSector{"in-use sector", 512, 512};
constexpr Field kLaterPadding{"padding and user area", 1024, kHeaderSize - 1024};

template <typename Kind>
class Corruption : public ::testing::Test {
 protected:
  // A saved pool of `size` bytes filled from `seed`, in a fresh directory.
  std::vector<std::byte> make_pool(std::size_t size, std::uint64_t seed = 1) {
    std::error_code ignored;
    std::filesystem::remove(path(), ignored);
    std::filesystem::remove(FileBackedMemory::spare_path(path()), ignored);
    auto pool = Kind::create(dir_, size, kUserVersion);
    testing::fill_splitmix64(pool.data(), seed);
    pool.close();
    return testing::read_file(path());
  }

  std::filesystem::path path() const { return dir_ / "pool"; }

  // open() of this pool kind and verify_file() both report `expected`.
  void expect_error(std::size_t size, errc expected, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_DATATIER_ERROR(Kind::open(dir_, size, kUserVersion), expected);
    VerifyOptions options;
    options.data_size = size;
    options.user_version = kUserVersion;
    EXPECT_EQ(verify_file(path(), options).error, expected);
  }

  TempDir dir_;
};

using Kinds = ::testing::Types<MmapFileKind, FileBackedMemoryKind>;
TYPED_TEST_SUITE(Corruption, Kinds, testing::PoolKindNames);

// An iterator `i` bytes into `v`.
template <typename V>
auto at(V& v, std::size_t i) {
  return v.begin() + static_cast<std::ptrdiff_t>(i);
}

// Sets every byte of `field` to a value from `fill` (given the byte index).
void overwrite(std::vector<std::byte>& file, const Field& field,
               const std::function<std::byte(std::size_t)>& fill) {
  for (std::size_t i = 0; i < field.size; ++i) file[field.offset + i] = fill(i);
}

// Each header field overwritten as a whole: with all ones, and XORed with a
// random pattern (the first byte of options left with bit 0 as it was so only
// unknown bits change).
TYPED_TEST(Corruption, EachWholeHeaderFieldGivesItsError) {
  for (const std::size_t size : {std::size_t{16384}, std::size_t{16384 - 1000}}) {
    const bool odd = size % kHeaderSize != 0;
    struct Case {
      Field field;
      errc expected;
    };
    const Case cases[] = {
        {kChecksum, errc::checksum_mismatch},    {kMagic, errc::bad_magic},
        {kVersion, errc::incompatible_version},  {kMonotonicSeconds, errc::checksum_mismatch},
        {kUnixSeconds, errc::checksum_mismatch}, {kMonotonicNanos, errc::checksum_mismatch},
        {kUnixNanos, errc::checksum_mismatch},   {kUserVersionField, errc::user_version_mismatch},
        {kOptions, errc::incompatible_version},  {kDataSizeField, errc::size_mismatch},
        {kPadding, errc::checksum_mismatch},     {kInUseSector, errc::unclean_shutdown},
        {kLaterPadding, errc::checksum_mismatch},
    };
    std::mt19937_64 random(size);
    for (const auto& c : cases) {
      for (const bool all_ones : {true, false}) {
        const std::string what = std::string(c.field.name) +
                                 (all_ones ? " all ones" : " xor random") + ", data size " +
                                 std::to_string(size);
        auto file = this->make_pool(size);
        overwrite(file, c.field, [&](std::size_t i) {
          if (all_ones) return std::byte{0xff};
          auto mask = static_cast<std::byte>(random() | 1);
          if (c.field.offset == kOptions.offset && i == 0) mask &= std::byte{0xfe};
          if (c.field.offset == kOptions.offset && i == 0 && mask == std::byte{0})
            mask = std::byte{2};
          return file[c.field.offset + i] ^ mask;
        });
        testing::write_file(this->path(), file);
        this->expect_error(size, c.expected, what);
      }
    }
    // The in-use mark alone: unclean shutdown, and the data still verifies.
    {
      auto file = this->make_pool(size);
      file[kOptions.offset] |= std::byte{1};
      testing::write_file(this->path(), file);
      this->expect_error(size, errc::unclean_shutdown, "in-use mark set");
      FileOptions accept;
      accept.accept_unclean = true;
      EXPECT_NO_THROW(TypeParam::open(this->dir_, size, kUserVersion, accept));
    }
    // An odd data size whose recorded size is erased: the file size allows it,
    // the checksum does not.
    if (odd) {
      auto file = this->make_pool(size);
      overwrite(file, kDataSizeField, [](std::size_t) { return std::byte{0}; });
      testing::write_file(this->path(), file);
      this->expect_error(size, errc::checksum_mismatch, "recorded data size erased");
    }
    // The whole header page zeroed (a lost header write).
    {
      auto file = this->make_pool(size);
      std::fill(file.begin(), at(file, kHeaderSize), std::byte{0});
      testing::write_file(this->path(), file);
      this->expect_error(size, errc::bad_magic, "header page zeroed");
    }
    // The header of another save of the same pool over this one's data (a
    // torn save: one of the two writes lost).
    {
      const auto older = this->make_pool(size, 1);
      auto file = this->make_pool(size, 2);
      std::copy(older.begin(), at(older, kHeaderSize), file.begin());
      testing::write_file(this->path(), file);
      this->expect_error(size, errc::checksum_mismatch, "header of another save");
    }
  }
}

// The first, a middle and the last data page, each corrupted as a whole in
// the ways disks and file systems lose data.
TYPED_TEST(Corruption, EachCorruptedDataPageIsAChecksumMismatch) {
  constexpr std::size_t kPages = 9;
  for (const std::size_t size : {kPages * 4096, kPages * 4096 - 123}) {
    const std::size_t data_pages = (size + 4095) / 4096;
    const std::size_t pages[] = {0, data_pages / 2, data_pages - 1};
    const auto older = this->make_pool(size, 77);  // a previous save's bytes
    for (const std::size_t page : pages) {
      const std::size_t begin = kHeaderSize + page * 4096;
      // The data bytes of the page (the last page's pad is not data).
      const std::size_t end = std::min(begin + 4096, kHeaderSize + size);
      struct Damage {
        const char* name;
        std::function<void(std::vector<std::byte>&)> apply;
      };
      const Damage damages[] = {
          {"zeroed", [&](auto& f) { std::fill(at(f, begin), at(f, end), std::byte{0}); }},
          {"all ones", [&](auto& f) { std::fill(at(f, begin), at(f, end), std::byte{0xff}); }},
          {"random",
           [&](auto& f) {
             std::mt19937_64 random(page);
             for (std::size_t i = begin; i < end; ++i) f[i] = static_cast<std::byte>(random());
           }},
          {"from a previous save",
           [&](auto& f) { std::copy(at(older, begin), at(older, end), at(f, begin)); }},
          {"copy of another page",
           [&](auto& f) {
             const std::size_t other = kHeaderSize + ((page + 1) % (data_pages - 1)) * 4096;
             std::copy(at(f, other), at(f, other + (end - begin)), at(f, begin));
           }},
          {"torn: second half from a previous save",
           [&](auto& f) {
             const std::size_t mid = begin + (end - begin) / 2;
             std::copy(at(older, mid), at(older, end), at(f, mid));
           }},
          {"one byte", [&](auto& f) { f[end - 1] ^= std::byte{0x80}; }},
      };
      for (const auto& damage : damages) {
        auto file = this->make_pool(size, 1);
        const auto intact = file;
        damage.apply(file);
        ASSERT_NE(file, intact) << damage.name;
        testing::write_file(this->path(), file);
        this->expect_error(size, errc::checksum_mismatch,
                           std::string("data page ") + std::to_string(page) + " " + damage.name +
                               ", data size " + std::to_string(size));
      }
    }
  }
}

// The error a single flipped bit at `bit` (a bit index into the file) must give.
errc expected_for_flip(std::uint64_t bit) {
  const std::uint64_t offset = bit / 8;
  if (offset < kMagic.offset) return errc::checksum_mismatch;
  if (offset < kVersion.offset) return errc::bad_magic;
  if (offset < kMonotonicSeconds.offset) return errc::incompatible_version;
  if (offset < kUserVersionField.offset) return errc::checksum_mismatch;
  if (offset < kOptions.offset) return errc::user_version_mismatch;
  if (offset < kDataSizeField.offset) {
    return bit == kOptions.offset * 8 ? errc::unclean_shutdown : errc::incompatible_version;
  }
  if (offset < kPadding.offset) return errc::size_mismatch;
  if (offset >= kInUseSector.offset && offset < kLaterPadding.offset) {
    return errc::unclean_shutdown;
  }
  return errc::checksum_mismatch;  // padding, user area and data
}

// 1000 single-bit flips at random positions of a pool file (a fixed seed),
// each one detected by open() with the error its position calls for. Each
// flip picks one of three regions at random, then a bit uniformly within it:
// the header fields (bytes 0..96), the header padding, the data. DATATIER_FLIP_SEED /
// DATATIER_FLIPS choose another seed or count.
TYPED_TEST(Corruption, RandomSingleBitFlipsAreAllDetected) {
  const char* seed_env = std::getenv("DATATIER_FLIP_SEED");
  const char* count_env = std::getenv("DATATIER_FLIPS");
  const std::uint64_t seed = seed_env != nullptr ? std::stoull(seed_env) : 20240604;
  const std::uint64_t flips = count_env != nullptr ? std::stoull(count_env) : 1000;
  constexpr std::size_t kSize = 3 * 4096;  // file of 16 KiB: a quarter header
  const auto intact = this->make_pool(kSize);
  std::mt19937_64 random(seed);
  std::uint64_t detected = 0;
  std::uint64_t in_fields = 0;
  std::map<std::string, std::uint64_t> by_error;
  for (std::uint64_t n = 0; n < flips; ++n) {
    const std::uint64_t region = random() % 3;
    const std::uint64_t lo = region == 0 ? 0 : region == 1 ? kPadding.offset * 8 : kHeaderSize * 8;
    const std::uint64_t hi = region == 0   ? kPadding.offset * 8
                             : region == 1 ? kHeaderSize * 8
                                           : intact.size() * 8;
    const std::uint64_t bit = lo + random() % (hi - lo);
    auto file = intact;
    file[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    testing::write_file(this->path(), file);
    const errc expected = expected_for_flip(bit);
    try {
      auto pool = TypeParam::open(this->dir_, kSize, kUserVersion);
      ADD_FAILURE() << "flip of bit " << bit % 8 << " at offset " << bit / 8 << " not detected";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), expected)
          << "bit " << bit % 8 << " at offset " << bit / 8 << ": " << e.what();
      if (e.code() == expected) ++detected;
      ++by_error[e.code().message()];
    }
    if (bit / 8 < kPadding.offset) ++in_fields;
  }
  std::ostringstream summary;
  for (const auto& [error, count] : by_error) summary << ", " << error << " " << count;
  std::cout << "[ flips    ] "
            << ::testing::UnitTest::GetInstance()->current_test_info()->type_param() << ": seed "
            << seed << ": " << detected << " of " << flips
            << " single-bit flips detected with the exact error (" << in_fields
            << " in header fields" << summary.str() << ")\n";
  EXPECT_EQ(detected, flips);
}

// The zero pad after an odd data size's last byte is not data and not covered
// by the checksum (docs/format.md, "Checksum"): a flip there still opens, and
// the bytes served are intact. Recorded here so a change is noticed.
TYPED_TEST(Corruption, FlipInThePadAfterOddDataIsNotDetected) {
  constexpr std::size_t kSize = 4096 + 100;
  auto file = this->make_pool(kSize);
  file[kHeaderSize + kSize + 5] ^= std::byte{1};
  testing::write_file(this->path(), file);
  auto pool = TypeParam::open(this->dir_, kSize, kUserVersion);
  const auto expected = testing::splitmix64_bytes(kSize, 1);
  EXPECT_TRUE(std::equal(pool.data().begin(), pool.data().end(), expected.begin(), expected.end()));
}

// ---------------------------------------------------------------------------
// Pools of several hash tasks and I/O blocks.
//
// The checksum is computed in parts: the tree hash cuts its input, header ‖
// data (file bytes [0, 4096 + data size)), into power-of-two tasks of at
// least 1 MiB, each starting at a multiple of its size, and the thread count
// chooses the size. FileBackedMemory moves the data in 8 MiB blocks from data
// offset 0, a partial last page being a block of its own. So the first, a
// middle and the last byte of every MiB of the hash input include the first
// and last byte of every task, whatever the thread count; add those of every
// 8 MiB block and of the partial last page, and every part of the computation
// has a flip at its start, inside and at its end.

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kIoBlock = 8 * kMiB;
constexpr std::uint64_t kPage = 4096;

// The file offsets to flip in a pool of `data_size` bytes, each with what it
// is the byte of.
std::map<std::uint64_t, std::string> part_edges(std::uint64_t data_size) {
  std::map<std::uint64_t, std::string> offsets;
  const auto add_part = [&](const std::string& part, std::uint64_t begin, std::uint64_t end) {
    offsets[begin] += "first byte of " + part + "; ";
    offsets[begin + (end - begin) / 2] += "middle byte of " + part + "; ";
    offsets[end - 1] += "last byte of " + part + "; ";
  };
  const std::uint64_t hashed_end = kHeaderSize + data_size;
  for (std::uint64_t at = 0; at < hashed_end; at += kMiB) {
    add_part("hash input MiB " + std::to_string(at / kMiB), at, std::min(at + kMiB, hashed_end));
  }
  const std::uint64_t pages_end = data_size / kPage * kPage;
  for (std::uint64_t at = 0; at < pages_end; at += kIoBlock) {
    add_part("I/O block " + std::to_string(at / kIoBlock), kHeaderSize + at,
             kHeaderSize + std::min(at + kIoBlock, pages_end));
  }
  if (pages_end < data_size) {
    add_part("the partial last page", kHeaderSize + pages_end, kHeaderSize + data_size);
  }
  return offsets;
}

// A pool file of `data_size` bytes, saved once, flipped and restored byte by
// byte. Every flip must be reported as errc::checksum_mismatch by
// verify_file(), MmapFile::open and FileBackedMemory::open, each on one of 1,
// 2, 3 and 8 threads (tasks of 2, 1, 1 and 1 MiB for a pool over 16 MiB):
// the three on different counts, each going round all four from one flip to
// the next. The saved file verifies on every thread count, and so does the
// restored one, which both pools then serve exactly: the flips were the only
// damage.
void expect_every_part_checked(std::uint64_t data_size) {
  constexpr unsigned kThreadCounts[] = {1, 2, 3, 8};
  constexpr std::size_t kRounds = std::size(kThreadCounts);
  const auto started = std::chrono::steady_clock::now();
  const auto size = static_cast<std::size_t>(data_size);
  TempDir dir;
  const auto path = dir / "pool";
  {
    // A FileBackedMemory leaves a clean snapshot at each flush().
    auto pool = FileBackedMemory::create(path, size, kUserVersion);
    testing::fill_splitmix64(pool.data(), data_size);
    pool.flush();
  }
  const auto intact = testing::read_file(path);
  VerifyOptions verify;
  verify.data_size = size;
  verify.user_version = kUserVersion;
  for (const unsigned threads : kThreadCounts) {
    verify.threads = threads;
    ASSERT_TRUE(verify_file(path, verify).ok()) << "the saved pool does not verify";
  }

  std::size_t flips = 0;
  for (const auto& [offset, what] : part_edges(data_size)) {
    verify.threads = kThreadCounts[flips % kRounds];
    FileOptions mmap_options;
    mmap_options.threads = kThreadCounts[(flips + 1) % kRounds];
    FileOptions fbm_options;
    fbm_options.threads = kThreadCounts[(flips + 2) % kRounds];
    SCOPED_TRACE("data size " + std::to_string(data_size) + ", file offset " +
                 std::to_string(offset) + ": " + what + "\nthreads: verify_file " +
                 std::to_string(verify.threads) + ", MmapFile::open " +
                 std::to_string(mmap_options.threads) + ", FileBackedMemory::open " +
                 std::to_string(fbm_options.threads));
    testing::flip_byte(path, offset, std::byte{0x80});
    EXPECT_EQ(verify_file(path, verify).error, errc::checksum_mismatch);
    EXPECT_DATATIER_ERROR(MmapFile::open(path, size, kUserVersion, mmap_options),
                          errc::checksum_mismatch);
    EXPECT_DATATIER_ERROR(FileBackedMemory::open(path, size, kUserVersion, fbm_options),
                          errc::checksum_mismatch);
    ++flips;
    testing::flip_byte(path, offset, std::byte{0x80});
    // An open that wrongly succeeded set the in-use mark: clear it, so that
    // one miss does not make every later check fail.
    if (::testing::Test::HasFailure()) testing::write_file(path, intact);
  }

  ASSERT_TRUE(testing::read_file(path) == intact) << "the flips were not all undone";
  for (const unsigned threads : kThreadCounts) {
    verify.threads = threads;
    EXPECT_TRUE(verify_file(path, verify).ok()) << "restored, " << threads << " threads";
  }
  const auto expected = testing::splitmix64_bytes(size, data_size);
  for (const unsigned threads : kThreadCounts) {
    SCOPED_TRACE("restored, " + std::to_string(threads) + " threads");
    FileOptions options;
    options.threads = threads;
    options.accept_unclean = true;  // the first open below sets the in-use mark
    {
      auto pool = MmapFile::open(path, size, kUserVersion, options);
      EXPECT_TRUE(std::ranges::equal(pool.data(), expected));
    }
    auto pool = FileBackedMemory::open(path, size, kUserVersion, options);
    EXPECT_TRUE(std::ranges::equal(pool.data(), expected));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ parts    ] data size " << data_size << ": " << flips
            << " flips at the edges and middles of hash tasks and I/O blocks, each found by "
            << "verify_file and both opens, in " << seconds << " s\n";
}

// Whole pages, hashed in 5 tasks of 1 MiB (the last one a single page), read
// in one block.
TEST(LargePoolCorruption, AFlippedByteInAnyOfFiveHashTasksIsAChecksumMismatch) {
  expect_every_part_checked(4 * kMiB);
}

// Hashed in tasks of 2 or 1 MiB by thread count, read and written in three
// blocks (the last one short) and a partial last page.
TEST(LargePoolCorruption, AFlippedByteInAnyHashTaskOrIoBlockIsAChecksumMismatch) {
  expect_every_part_checked(17 * kMiB + 1234);
}

}  // namespace
}  // namespace datatier
