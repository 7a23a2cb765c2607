// The state of a Memory pool, and the access that hands shareable memory to
// another process and adopts it there.
#pragma once

#include <cstddef>

#include "datatier/memory.h"
#include "datatier/memory_options.h"
#include "platform/mapping.h"
#include "platform/unique_fd.h"

namespace datatier {

struct Memory::Impl {
  platform::Mapping mapping;
  Placement placement;
  // The memory file the mapping maps (MemoryOptions::shareable); empty for
  // private anonymous memory.
  platform::UniqueFd file;
};

namespace detail {

struct SharedMemory {
  // The memory file of `memory`, or -1 for private memory or a moved-from
  // pool.
  static int file(const Memory& memory) noexcept;
  // How `memory` was placed, as create() recorded it (Placement::huge_bytes
  // not measured). Requires: `memory` not moved from.
  static const Placement& placement(const Memory& memory) noexcept;

  // A Memory of `size` bytes over the memory file `file` (received from the
  // process that placed it, which reported `placement`), mapped without
  // touching a page; locked when `lock`. Requires: `file` sealed at a size
  // of at least `size` (platform::memory_file_status). Throws:
  // datatier::Error (errno of mmap or mlock).
  static Memory adopt(platform::UniqueFd file, std::size_t size, const Placement& placement,
                      bool lock);
};

// Memory whose pages someone else will fill: a lazy open's.
struct ReservedMemory {
  // As Memory::create(), but no page is faulted in and none locked
  // (options.lock is the caller's, once the pages are in).
  static Memory reserve(std::size_t size, const MemoryOptions& options);
};

}  // namespace detail
}  // namespace datatier
