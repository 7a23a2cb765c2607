// The interface every pool offers: a span of bytes and a way to persist them.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>
#include <span>

namespace datatier {

// A contiguous arena of bytes that a cache or storage server keeps its data
// in. What flush() persists, and where, depends on the pool type: Memory keeps
// nothing, MmapFile and FileBackedMemory save a checked snapshot to a file.
//
// Thread safety: data() may be used from any number of threads; flush(),
// moves and destruction must not run concurrently with each other or with
// writes to data().
class Datapool {
 public:
  virtual ~Datapool() = default;

  // The pool's bytes. The span stays valid until the pool is moved from or
  // destroyed. Empty for a moved-from pool.
  virtual std::span<std::byte> data() noexcept = 0;
  virtual std::span<const std::byte> data() const noexcept = 0;

  // The number of bytes in data(): exactly the size the pool was created or
  // opened with.
  std::size_t size() const noexcept { return data().size(); }

  // Persists the current contents, as far as the pool type persists anything.
  // Throws: datatier::Error; what a failed or interrupted flush leaves behind
  // is documented by each pool type.
  virtual void flush() = 0;

  // Declares that bytes [offset, offset + length) of data() were written
  // since the last flush(), for a pool that saves only what was marked
  // (FileOptions::changes = Changes::marked): a bit per block of the block
  // index, set atomically, no lock, no system call. Bytes past the end are
  // ignored. Thread-safe, also while other threads write data(). Pools that
  // find changes themselves, or save nothing, ignore it.
  virtual void mark_dirty(std::size_t offset, std::size_t length) noexcept {
    static_cast<void>(offset);
    static_cast<void>(length);
  }

  // The clean shutdown: persists the contents as flush() does, marks a file
  // as cleanly saved, and releases the pool, which is then as a moved-from
  // one. On an error the pool is still held (see each pool type).
  virtual void close() = 0;

 protected:
  Datapool() = default;
  Datapool(const Datapool&) = default;
  Datapool(Datapool&&) = default;
  Datapool& operator=(const Datapool&) = default;
  Datapool& operator=(Datapool&&) = default;
};

}  // namespace datatier
