// The pool checksum: its definition against the golden files, and the
// parallel tree hash against the official single-threaded BLAKE3.
#include "checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <utility>
#include <vector>

#include "official_blake3.h"
#include "test_util.h"

namespace datatier::detail {
namespace {

using testing::official_blake3;

CoveredHeader sample_header(std::uint64_t seed) {
  CoveredHeader bytes;
  testing::fill_splitmix64(bytes, seed);
  return bytes;
}

struct GoldenCase {
  const char* name;
  std::size_t data_size;
};

class GoldenChecksum : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenChecksum, RecomputesTheStoredChecksum) {
  const auto file = testing::read_file(testing::golden(GetParam().name));
  const std::span<const std::byte, kHeaderSize> stored(file.data(), kHeaderSize);
  const std::span<const std::byte> data(file.data() + kHeaderSize, GetParam().data_size);
  const Checksum stored_checksum = decode_header(stored).checksum;
  EXPECT_EQ(to_hex(pool_checksum(covered_header(stored), data)), to_hex(stored_checksum));
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenChecksum,
                         ::testing::Values(GoldenCase{"mmap_8192_uv0_seed1.pool", 8192},
                                           GoldenCase{"fbm_8192_uv7_seed2.pool", 8192},
                                           GoldenCase{"mmap_65536_uv42_seed3.pool", 65536}));

TEST(Checksum, CoversTheHeaderWithChecksumZeroedAndInUseCleared) {
  CoveredHeader stored = sample_header(1);
  stored[80] |= std::byte{1};
  std::fill(stored.begin() + 512, stored.begin() + 1024, std::byte{0x5a});  // the in-use sector
  const CoveredHeader covered = covered_header(stored);
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(covered[i], std::byte{0});
  EXPECT_EQ(covered[80], stored[80] & ~std::byte{1});
  EXPECT_TRUE(std::equal(covered.begin() + 32, covered.begin() + 80, stored.begin() + 32));
  EXPECT_TRUE(std::equal(covered.begin() + 81, covered.begin() + 512, stored.begin() + 81));
  for (std::size_t i = 512; i < 1024; ++i) EXPECT_EQ(covered[i], std::byte{0});
  EXPECT_TRUE(std::equal(covered.begin() + 1024, covered.end(), stored.begin() + 1024));
}

// A copy of the first sector in the header-copy sector (bytes 1024..1536) is
// left out; other bytes there are covered like all padding.
TEST(Checksum, LeavesOutOnlyACopyOfTheFirstSector) {
  CoveredHeader stored = sample_header(2);
  std::copy(kMagic.begin(), kMagic.end(), stored.begin() + 32);
  std::copy_n(stored.begin(), 512, stored.begin() + 1024);
  const CoveredHeader covered = covered_header(stored);
  for (std::size_t i = 1024; i < 1536; ++i) EXPECT_EQ(covered[i], std::byte{0});
  stored[1024 + 32] ^= std::byte{1};  // no magic: damage, hashed as stored
  const CoveredHeader damaged = covered_header(stored);
  EXPECT_TRUE(std::equal(damaged.begin() + 1024, damaged.begin() + 1536, stored.begin() + 1024));
}

TEST(Checksum, EncodedHeaderIsCoveredLikeItsBytes) {
  Header h;
  h.user_version = 9;
  h.options = kOptionInUse;
  h.checksum.fill(std::byte{0xab});
  CoveredHeader bytes;
  encode_header(h, bytes);
  EXPECT_EQ(covered_header(h), covered_header(bytes));
}

TEST(Checksum, HexIsLowerCase) {
  Checksum c{};
  c[0] = std::byte{0xAB};
  c[31] = std::byte{0x0f};
  const std::string hex = to_hex(c);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.substr(0, 2), "ab");
  EXPECT_EQ(hex.substr(62), "0f");
}

// Sizes around every boundary of the tree: chunks (1 KiB), SIMD batches
// (64 KiB), the smallest task (1 MiB) and powers of two.
std::vector<std::size_t> tree_sizes() {
  std::vector<std::size_t> sizes = {0, 1, 63, 64, 65, 1023, 1024, 1025, 3072, 4095, 4096, 4097};
  for (std::size_t base :
       {std::size_t{60} << 10, std::size_t{64} << 10, std::size_t{1} << 20,
        (std::size_t{1} << 20) - 4096, std::size_t{2} << 20, std::size_t{4} << 20,
        std::size_t{7} << 20, std::size_t{16} << 20, (std::size_t{32} << 20) + 12345}) {
    for (std::size_t delta :
         {std::size_t{0}, std::size_t{1}, std::size_t{1023}, std::size_t{1024}}) {
      sizes.push_back(base + delta);
      if (base > delta) sizes.push_back(base - delta);
    }
  }
  return sizes;
}

TEST(TreeHash, EqualsOfficialBlake3ForEverySizeAndThreadCount) {
  const auto all = testing::splitmix64_bytes((std::size_t{32} << 20) + 20000, 7);
  const CoveredHeader header = sample_header(3);
  std::size_t cases = 0;
  for (std::size_t size : tree_sizes()) {
    const std::span<const std::byte> data(all.data(), size);
    const Checksum expected = official_blake3(header, data);
    for (unsigned threads : {1u, 2u, 3u, 4u, 7u, 16u}) {
      TreeHashOptions options;
      options.threads = threads;
      ASSERT_EQ(to_hex(tree_hash(header, data, options)), to_hex(expected))
          << "size " << size << ", threads " << threads;
      ++cases;
    }
  }
  EXPECT_GT(cases, 300u);
}

// The windowed hash, fed window by window from a buffer used again (as
// verify_file reads a file), equals the official hash for every size,
// window and thread count.
// Block values merged give the official hash, whatever the block size, the
// threads, and whether the stream is given whole or window by window (the
// window at 0 holding junk where the header goes, which must not be read).
TEST(BlockHash, MergedBlocksEqualOfficialBlake3ForEverySizeBlockAndThreadCount) {
  const auto all = testing::splitmix64_bytes((std::size_t{32} << 20) + 20000, 9);
  const CoveredHeader header = sample_header(5);
  std::size_t cases = 0;
  for (std::size_t size : tree_sizes()) {
    const std::span<const std::byte> data(all.data(), size);
    const Checksum expected = official_blake3(header, data);
    const std::uint64_t length = kHeaderSize + size;
    for (const std::uint64_t block :
         {std::uint64_t{4096}, std::uint64_t{64} << 10, std::uint64_t{1} << 20}) {
      if (block_count(length, block) < 2) continue;
      std::vector<std::uint64_t> blocks(block_count(length, block));
      for (std::size_t b = 0; b < blocks.size(); ++b) blocks[b] = b;
      for (unsigned threads : {1u, 2u, 5u}) {
        TreeHashOptions options;
        options.threads = threads;
        std::vector<ChainingValue> whole(blocks.size());
        ASSERT_TRUE(hash_blocks(whole_stream(header, data), block, blocks, whole, options));
        ASSERT_EQ(to_hex(merge_blocks(whole)), to_hex(expected))
            << "size " << size << ", block " << block << ", threads " << threads;

        const std::uint64_t window = std::max(block, std::uint64_t{2} << 20);
        std::vector<ChainingValue> windowed(blocks.size());
        std::vector<std::byte> buffer(window);
        for (std::uint64_t at = 0; at < length; at += window) {
          const std::size_t n = static_cast<std::size_t>(std::min(window, length - at));
          std::fill(buffer.begin(), buffer.end(), std::byte{0xee});
          for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t o = at + i;
            if (o >= kHeaderSize) buffer[i] = data[static_cast<std::size_t>(o - kHeaderSize)];
          }
          const std::span<const std::uint64_t> in_window(
              blocks.data() + at / block, static_cast<std::size_t>(block_count(n, block)));
          ASSERT_TRUE(hash_blocks({header, buffer.data(), at, length}, block, in_window, windowed,
                                  options));
        }
        ASSERT_EQ(windowed, whole) << "size " << size << ", block " << block;
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 100u);
}

// Hashing some blocks gives each the value a hash of all gives it, and
// leaves the others untouched.
TEST(BlockHash, SelectedBlocksGetTheValuesOfAWholeHash) {
  const auto data = testing::splitmix64_bytes(std::size_t{3} << 20, 4);
  const CoveredHeader header = sample_header(2);
  constexpr std::uint64_t kBlock = 64 << 10;
  const std::uint64_t count = block_count(kHeaderSize + data.size(), kBlock);
  std::vector<std::uint64_t> all(count);
  for (std::size_t b = 0; b < all.size(); ++b) all[b] = b;
  std::vector<ChainingValue> whole(count);
  ASSERT_TRUE(hash_blocks(whole_stream(header, data), kBlock, all, whole, {}));
  std::vector<ChainingValue> some(count);
  const std::vector<std::uint64_t> selected = {0, 5, 6, 7, count - 1};
  ASSERT_TRUE(hash_blocks(whole_stream(header, data), kBlock, selected, some, {}));
  for (std::uint64_t b = 0; b < count; ++b) {
    const bool chosen = std::find(selected.begin(), selected.end(), b) != selected.end();
    EXPECT_EQ(some[b] == whole[b], chosen) << b;
  }
}

TEST(TreeHash, WaitsForEveryByteItReads) {
  const auto data = testing::splitmix64_bytes(std::size_t{20} << 20, 8);
  const CoveredHeader header = sample_header(4);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> asked;
  std::mutex mutex;
  TreeHashOptions options;
  options.threads = 4;
  options.before_hashing = [&](std::uint64_t begin, std::uint64_t end) {
    const std::lock_guard lock(mutex);
    asked.emplace_back(begin, end);
    return true;
  };
  EXPECT_EQ(tree_hash(header, data, options), official_blake3(header, data));
  std::sort(asked.begin(), asked.end());
  std::uint64_t covered = 0;
  for (const auto& [begin, end] : asked) {
    EXPECT_EQ(begin, covered);
    covered = end;
  }
  EXPECT_EQ(covered, data.size());
}

TEST(TreeHash, StopsWhenTheProducerFails) {
  const auto data = testing::splitmix64_bytes(std::size_t{8} << 20, 9);
  TreeHashOptions options;
  options.before_hashing = [](std::uint64_t, std::uint64_t end) {
    return end < (std::uint64_t{4} << 20);
  };
  EXPECT_EQ(tree_hash(sample_header(5), data, options), Checksum{});
}

TEST(TreeHash, ReportsProgressToTheEnd) {
  const auto data = testing::splitmix64_bytes(std::size_t{10} << 20, 10);
  std::uint64_t last = 0;
  TreeHashOptions options;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_EQ(total, data.size());
    EXPECT_GE(done, last);
    last = done;
  };
  tree_hash(sample_header(6), data, options);
  EXPECT_EQ(last, data.size());
}

}  // namespace
}  // namespace datatier::detail
