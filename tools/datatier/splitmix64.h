// The splitmix64 byte stream the golden files in tests/data hold, so files made
// by `datatier create --fill random` can be cross-checked with the reference's
// `refpool`. Its one definition: the tests use it too (tests/test_util.h).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace datatier::cli {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) noexcept : state_(seed) {}

  std::uint64_t next() noexcept {
    state_ += 0x9E3779B97F4A7C15u;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
  }

  // Writes the next out.size() bytes of the stream: each word little-endian,
  // a final partial word truncated. Calls continue the stream seamlessly as
  // long as every call but the last covers a multiple of 8 bytes.
  void fill(std::span<std::byte> out) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= out.size(); i += 8) {
      const std::uint64_t word = little_endian(next());
      std::memcpy(out.data() + i, &word, 8);
    }
    if (i < out.size()) {
      const std::uint64_t word = little_endian(next());
      std::memcpy(out.data() + i, &word, out.size() - i);
    }
  }

 private:
  static std::uint64_t little_endian(std::uint64_t v) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      return v;
    } else {
      return __builtin_bswap64(v);
    }
  }

  std::uint64_t state_;
};

}  // namespace datatier::cli
