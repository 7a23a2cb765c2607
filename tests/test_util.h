// Helpers shared by the tests: the golden files' data generator, file byte
// access, matchers for datatier errors, what the kernel offers, and putting
// back the system-call table a test changed.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <system_error>
#include <vector>

#include "datatier/error.h"
#include "platform/syscalls.h"
#include "tools/datatier/splitmix64.h"

namespace datatier::testing {

// The golden files' data stream has one definition, shared with
// `datatier create --fill random`: tools/datatier/splitmix64.h.
using cli::SplitMix64;

// Whether this kernel has cachestat(2) (Linux 6.5); without it nothing is
// ever reported cached or dirty, and the library reads as if nothing were.
inline bool kernel_has_cachestat() {
  platform::PageCacheCounts counts;
  return platform::real_syscalls().cachestat(-1, 0, 4096, &counts) != 0 && errno != ENOSYS;
}

// Fills `out` with the stream from `seed`: its words little-endian, the last
// one cut short.
inline void fill_splitmix64(std::span<std::byte> out, std::uint64_t seed) {
  SplitMix64(seed).fill(out);
}

inline std::vector<std::byte> splitmix64_bytes(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> bytes(n);
  fill_splitmix64(bytes, seed);
  return bytes;
}

// Whether `data` is the stream from `seed`, as fill_splitmix64 writes it.
inline bool holds_splitmix64(std::span<const std::byte> data, std::uint64_t seed) {
  const auto expected = splitmix64_bytes(data.size(), seed);
  return std::equal(data.begin(), data.end(), expected.begin(), expected.end());
}

inline std::vector<std::byte> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) bytes[i] = static_cast<std::byte>(chars[i]);
  return bytes;
}

inline void write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// XORs the byte at `offset` of the file with `mask`.
inline void flip_byte(const std::filesystem::path& path, std::uint64_t offset,
                      std::byte mask = std::byte{0x01}) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(static_cast<std::byte>(c) ^ mask);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// Puts the real system calls back when a test ends, whatever it replaced.
struct RestoreSyscalls {
  RestoreSyscalls() = default;
  RestoreSyscalls(const RestoreSyscalls&) = delete;
  RestoreSyscalls& operator=(const RestoreSyscalls&) = delete;
  ~RestoreSyscalls() { platform::syscalls() = platform::real_syscalls(); }
};

inline std::filesystem::path golden(const std::string& name) {
  return std::filesystem::path(DATATIER_TEST_DATA_DIR) / name;
}

}  // namespace datatier::testing

// EXPECT_DATATIER_ERROR(statement, code): `statement` throws datatier::Error
// whose code() compares equal to `code` (a datatier::errc or std::errc).
#define EXPECT_DATATIER_ERROR(statement, expected_code)                   \
  do {                                                                    \
    try {                                                                 \
      statement;                                                          \
      ADD_FAILURE() << #statement " did not throw";                       \
    } catch (const ::datatier::Error& e) {                                \
      EXPECT_EQ(e.code(), expected_code) << "actual error: " << e.what(); \
    }                                                                     \
  } while (false)
