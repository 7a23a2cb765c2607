// Header encoding and decoding, and the pool file size rule.
#include <gtest/gtest.h>

#include <array>
#include <limits>

#include "datatier/header.h"
#include "test_util.h"

namespace datatier {
namespace {

Header sample_header() {
  Header h;
  for (std::size_t i = 0; i < h.checksum.size(); ++i) h.checksum[i] = static_cast<std::byte>(i + 1);
  h.version = 0x0102030405060708u;
  h.time_monotonic_s = 0x11223344u;
  h.time_unix_s = 0x55667788u;
  h.time_monotonic_ns = 0x99aabbccddeeff00u;
  h.time_unix_ns = 0x0fedcba987654321u;
  h.user_version = 0xdeadbeefcafef00du;
  h.options = kOptionInUse;
  h.data_size = 5000;
  return h;
}

TEST(Header, DecodeInvertsEncode) {
  const Header h = sample_header();
  std::array<std::byte, kHeaderSize> bytes;
  encode_header(h, bytes);
  EXPECT_EQ(decode_header(bytes), h);
}

TEST(Header, EncodesLittleEndianFieldsAtDocumentedOffsets) {
  std::array<std::byte, kHeaderSize> bytes;
  bytes.fill(std::byte{0xee});
  encode_header(sample_header(), bytes);
  EXPECT_EQ(bytes[0], std::byte{1});
  EXPECT_EQ(bytes[31], std::byte{32});
  EXPECT_EQ(bytes[32], std::byte{'P'});
  EXPECT_EQ(bytes[39], std::byte{'!'});
  EXPECT_EQ(bytes[40], std::byte{0x08});  // version, least significant byte first
  EXPECT_EQ(bytes[47], std::byte{0x01});
  EXPECT_EQ(bytes[48], std::byte{0x44});  // time_monotonic_s
  EXPECT_EQ(bytes[52], std::byte{0x88});  // time_unix_s
  EXPECT_EQ(bytes[56], std::byte{0x00});  // time_monotonic_ns
  EXPECT_EQ(bytes[63], std::byte{0x99});
  EXPECT_EQ(bytes[64], std::byte{0x21});  // time_unix_ns
  EXPECT_EQ(bytes[72], std::byte{0x0d});  // user_version
  EXPECT_EQ(bytes[80], std::byte{0x01});  // options
  EXPECT_EQ(bytes[88], std::byte{0x88});  // data_size 5000 = 0x1388
  EXPECT_EQ(bytes[89], std::byte{0x13});
  // A header marked in use also marks the in-use sector; the rest is zero.
  for (std::size_t i = 96; i < kHeaderSize; ++i) {
    if (i >= 512 && i < 1024) {
      ASSERT_NE(bytes[i], std::byte{0}) << i;
    } else {
      ASSERT_EQ(bytes[i], std::byte{0}) << i;
    }
  }
}

TEST(Header, DecodesTheGoldenFileHeader) {
  const auto file = testing::read_file(testing::golden("mmap_65536_uv42_seed3.pool"));
  ASSERT_EQ(file.size(), 69632u);
  const Header h = decode_header(std::span<const std::byte, kHeaderSize>(file.data(), kHeaderSize));
  EXPECT_EQ(h.magic, kMagic);
  EXPECT_EQ(h.version, 0u);
  EXPECT_EQ(h.time_monotonic_s, 519u);
  EXPECT_EQ(h.time_unix_s, 1795462057u);
  EXPECT_EQ(h.time_monotonic_ns, 519581263640u);
  EXPECT_EQ(h.time_unix_ns, 1795462057398451004u);
  EXPECT_EQ(h.user_version, 42u);
  EXPECT_EQ(h.options, 0u);
  EXPECT_EQ(h.data_size, 0u);
  EXPECT_EQ(h.checksum[0], std::byte{0xf3});
  EXPECT_EQ(h.checksum[31], std::byte{0x77});
}

TEST(Header, ReencodingTheGoldenHeaderGivesItsBytes) {
  const auto file = testing::read_file(testing::golden("fbm_8192_uv7_seed2.pool"));
  const std::span<const std::byte, kHeaderSize> stored(file.data(), kHeaderSize);
  std::array<std::byte, kHeaderSize> again;
  encode_header(decode_header(stored), again);
  EXPECT_TRUE(std::equal(again.begin(), again.end(), stored.begin()));
}

TEST(PoolFileSize, RoundsHeaderPlusDataUpToWholePages) {
  EXPECT_EQ(pool_file_size(0), 4096u);
  EXPECT_EQ(pool_file_size(1), 8192u);
  EXPECT_EQ(pool_file_size(4095), 8192u);
  EXPECT_EQ(pool_file_size(4096), 8192u);
  EXPECT_EQ(pool_file_size(4097), 12288u);
  EXPECT_EQ(pool_file_size((1u << 20) + 3), 4096u + (1u << 20) + 4096u);
}

TEST(PoolFileSize, RefusesSizesBeyondOffT) {
  EXPECT_FALSE(pool_file_size(std::numeric_limits<std::size_t>::max()).has_value());
  const std::uint64_t max_off =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  EXPECT_FALSE(pool_file_size(static_cast<std::size_t>(max_off)).has_value());
  const std::uint64_t largest = max_off / 4096 * 4096 - 4096;
  ASSERT_TRUE(pool_file_size(static_cast<std::size_t>(largest)).has_value());
  EXPECT_LE(*pool_file_size(static_cast<std::size_t>(largest)), max_off);
  EXPECT_FALSE(pool_file_size(static_cast<std::size_t>(largest + 1)).has_value());
}

}  // namespace
}  // namespace datatier
