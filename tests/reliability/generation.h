// The contents of generation N in the crash test: shared by the writer that
// saves generations and the test that checks what survives a kill.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace datatier::crash {

// Word `index` (8 bytes, little-endian) of generation `generation`: the
// generation itself for word 0, then splitmix64 seeded with it, so any two
// generations differ in almost every byte.
inline std::uint64_t generation_word(std::uint64_t generation, std::uint64_t index) {
  if (index == 0) return generation;
  std::uint64_t z = generation + index * 0x9E3779B97F4A7C15u;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

inline void fill_generation(std::span<std::byte> data, std::uint64_t generation) {
  for (std::size_t i = 0; i < data.size(); i += 8) {
    const std::uint64_t word = generation_word(generation, i / 8);
    for (std::size_t j = i; j < data.size() && j < i + 8; ++j) {
      data[j] = static_cast<std::byte>(word >> (8 * (j - i)));
    }
  }
}

// The generation `data` holds exactly, or nothing when it is not one.
inline std::optional<std::uint64_t> generation_of(std::span<const std::byte> data) {
  if (data.size() < 8) return std::nullopt;
  std::uint64_t generation = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    generation |= std::uint64_t{std::to_integer<std::uint8_t>(data[i])} << (8 * i);
  }
  for (std::size_t i = 8; i < data.size(); i += 8) {
    const std::uint64_t word = generation_word(generation, i / 8);
    for (std::size_t j = i; j < data.size() && j < i + 8; ++j) {
      if (data[j] != static_cast<std::byte>(word >> (8 * (j - i)))) return std::nullopt;
    }
  }
  return generation;
}

}  // namespace datatier::crash
