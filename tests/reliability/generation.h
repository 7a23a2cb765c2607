// The contents of generation N in the crash test: shared by the writer that
// saves generations and the test that checks what survives a kill.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace datatier::crash {

// The first 8 bytes hold N (little-endian); the rest are splitmix64 words
// seeded with N, so any two generations differ in almost every byte.
inline void fill_generation(std::span<std::byte> data, std::uint64_t generation) {
  std::uint64_t state = generation;
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (i % 8 == 0) {
      if (i == 0) {
        word = generation;
      } else {
        state += 0x9E3779B97F4A7C15u;
        std::uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        word = z ^ (z >> 31);
      }
    }
    data[i] = static_cast<std::byte>(word >> (8 * (i % 8)));
  }
}

// The generation `data` holds exactly, or nothing when it is not one.
inline std::optional<std::uint64_t> generation_of(std::span<const std::byte> data) {
  if (data.size() < 8) return std::nullopt;
  std::uint64_t generation = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    generation |= std::uint64_t{std::to_integer<std::uint8_t>(data[i])} << (8 * i);
  }
  std::uint64_t state = generation;
  for (std::size_t i = 8; i < data.size(); i += 8) {
    state += 0x9E3779B97F4A7C15u;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    const std::uint64_t word = z ^ (z >> 31);
    for (std::size_t j = i; j < data.size() && j < i + 8; ++j) {
      if (data[j] != static_cast<std::byte>(word >> (8 * (j - i)))) return std::nullopt;
    }
  }
  return generation;
}

}  // namespace datatier::crash
