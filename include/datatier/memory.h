// A volatile pool in anonymous memory.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>
#include <memory>
#include <span>

#include "datatier/datapool.h"
#include "datatier/memory_options.h"

namespace datatier {

namespace detail {
struct SharedMemory;
struct ReservedMemory;
}  // namespace detail

// Memory keeps its bytes in a private anonymous mapping, or with
// MemoryOptions::shareable in a memory file mapped shared: volatile DRAM,
// gone when the pool is destroyed or the process ends (unless a
// FileBackedMemory hands it to another process). Move-only.
class Memory final : public Datapool {
 public:
  // Maps `size` zero bytes placed as `options` ask and faults in every page,
  // on options.threads threads, before returning, so the first writes later
  // cost no page faults. By default: transparent huge pages where the kernel
  // allows them, the local NUMA node, all cores. With options.fallback,
  // explicit huge pages the kernel cannot supply fall back along
  // 1 GiB → 2 MiB → transparent; placement() says what was used, and
  // options.on_fallback hears of each step down and of threads the system
  // refused (datatier/fallback.h). `size` may be 0 (an empty pool). No
  // thread outlives the call.
  // Throws: datatier::Error — std::errc::not_enough_memory when the memory
  // (or, without fallback, the huge pages) cannot be had; the errno of a
  // refused NUMA policy or mlock.
  static Memory create(std::size_t size, const MemoryOptions& options = {});

  Memory(Memory&& other) noexcept;
  Memory& operator=(Memory&& other) noexcept;
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;
  ~Memory() override;

  std::span<std::byte> data() noexcept override;
  std::span<const std::byte> data() const noexcept override;

  // Does nothing: a Memory pool has nowhere to persist to.
  void flush() override {}
  // Frees the memory now. Never throws.
  void close() noexcept override;

  // How the pool's memory was placed. Placement::huge_bytes is measured on
  // each call: the cost of reading /proc/self/smaps once (about a
  // millisecond for a process of a few hundred mappings, more for many).
  // A moved-from pool reports defaults.
  Placement placement() const noexcept;

 private:
  // Hands shareable memory to another process and adopts it there.
  friend struct detail::SharedMemory;
  friend struct detail::ReservedMemory;
  struct Impl;
  explicit Memory(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datatier
