// A volatile pool in anonymous memory.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "datatier/datapool.h"

namespace datatier {

// Memory keeps its bytes in a private anonymous mapping: volatile DRAM,
// gone when the pool is destroyed or the process ends. Move-only.
class Memory final : public Datapool {
 public:
  // Maps `size` zero bytes and faults in every page before returning, so the
  // first writes later cost no page faults. Asks for transparent huge pages
  // where the kernel offers them. `size` may be 0 (an empty pool).
  // Throws: datatier::Error (std::errc::not_enough_memory when the memory
  // cannot be had).
  static Memory create(std::size_t size);

  Memory(Memory&& other) noexcept;
  Memory& operator=(Memory&& other) noexcept;
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;
  ~Memory() override;

  std::span<std::byte> data() noexcept override;
  std::span<const std::byte> data() const noexcept override;

  // Does nothing: a Memory pool has nowhere to persist to.
  void flush() override {}

 private:
  struct Impl;
  explicit Memory(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datatier
