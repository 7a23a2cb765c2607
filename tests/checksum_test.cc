// The pool checksum against the golden files and plain BLAKE3.
#include "checksum.h"

#include <gtest/gtest.h>

#include <array>

#include "test_util.h"

namespace datatier::detail {
namespace {

struct GoldenCase {
  const char* name;
  std::size_t data_size;
};

class GoldenChecksum : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenChecksum, RecomputesTheStoredChecksum) {
  const auto file = testing::read_file(testing::golden(GetParam().name));
  const Header h = decode_header(std::span<const std::byte, kHeaderSize>(file.data(), kHeaderSize));
  const std::span<const std::byte> data(file.data() + kHeaderSize, GetParam().data_size);
  EXPECT_EQ(to_hex(pool_checksum(h, data)), to_hex(h.checksum));
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenChecksum,
                         ::testing::Values(GoldenCase{"mmap_8192_uv0_seed1.pool", 8192},
                                           GoldenCase{"fbm_8192_uv7_seed2.pool", 8192},
                                           GoldenCase{"mmap_65536_uv42_seed3.pool", 65536}));

TEST(Checksum, EqualsBlake3OfZeroedHeaderFollowedByData) {
  Header h;
  h.user_version = 9;
  h.checksum.fill(std::byte{0xab});
  const auto data = testing::splitmix64_bytes(10'000, 5);

  Header zeroed = h;
  zeroed.checksum = {};
  std::array<std::byte, kHeaderSize> bytes;
  encode_header(zeroed, bytes);
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update(&hasher, bytes.data(), bytes.size());
  blake3_hasher_update(&hasher, data.data(), data.size());
  Checksum expected;
  blake3_hasher_finalize(&hasher, reinterpret_cast<std::uint8_t*>(expected.data()), expected.size());

  EXPECT_EQ(pool_checksum(h, data), expected);
}

TEST(Checksum, IgnoresTheInUseMark) {
  Header h;
  const auto data = testing::splitmix64_bytes(100, 1);
  Header marked = h;
  marked.options |= kOptionInUse;
  EXPECT_EQ(pool_checksum(h, data), pool_checksum(marked, data));
}

TEST(Checksum, StreamingEqualsOneShot) {
  Header h;
  const auto data = testing::splitmix64_bytes(3 * 1024 * 1024 + 17, 2);
  ChecksumHasher hasher(h);
  for (std::size_t off = 0; off < data.size(); off += 777'777) {
    hasher.update(std::span<const std::byte>(data).subspan(off, std::min<std::size_t>(777'777, data.size() - off)));
  }
  EXPECT_EQ(hasher.finish(), pool_checksum(h, data));
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

}  // namespace
}  // namespace datatier::detail
