// Little-endian integers in byte buffers: the byte order of every on-disk
// field (docs/format.md).
#pragma once

#include <array>
#include <cstddef>
#include <span>

namespace datatier::detail {

template <typename T>
void put_le(std::span<std::byte> out, std::size_t offset, T value) noexcept {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out[offset + i] = static_cast<std::byte>(value >> (8 * i));
  }
}

template <typename T>
T get_le(std::span<const std::byte> in, std::size_t offset) noexcept {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    value = static_cast<T>(value | static_cast<T>(static_cast<T>(in[offset + i]) << (8 * i)));
  }
  return value;
}

// The eight ASCII characters of `text` (a format's magic) as bytes.
constexpr std::array<std::byte, 8> magic_bytes(const char (&text)[9]) noexcept {
  std::array<std::byte, 8> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

}  // namespace datatier::detail
