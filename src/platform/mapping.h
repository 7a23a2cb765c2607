// A move-only memory mapping: anonymous private memory or a shared file mapping.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

#include "datatier/memory_options.h"

namespace datatier::platform {

class File;

// Owns one mmap(2) region and unmaps it when destroyed. A zero-length Mapping
// maps nothing and has an empty bytes() span. A moved-from Mapping is empty.
class Mapping {
 public:
  Mapping() noexcept = default;
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  // `size` bytes of private zero-filled memory backed by pages of `page_size`
  // (no fallback: explicit huge pages the kernel cannot supply, or does not
  // support, fail with ENOMEM and a message saying which pages are not
  // available). Pages are not faulted in yet. Throws datatier::Error.
  static Mapping anonymous(std::size_t size, PageSize page_size);

  // `size` bytes of the memory file `fd` (platform/memory_file.h, made for
  // pages of `page_size`), mapped shared and read-write: its pages are
  // shared with every other mapping of the file, in this process or
  // another. With PageSize::transparent the mapping asks for transparent
  // huge pages, which the kernel gives shared memory only where its
  // shmem_enabled setting allows. Pages are not faulted in yet; those the
  // file holds already are only mapped on first touch. Does not take `fd`.
  // Throws datatier::Error, for explicit huge pages as anonymous().
  static Mapping memory_file(int fd, std::size_t size, PageSize page_size);

  // The first `size` bytes of `file`, mapped shared and read-write, or
  // read-only when `writable` is false, on transparent huge pages where the
  // file system allows. Pages are read in on first touch.
  static Mapping shared(const File& file, std::size_t size, bool writable = true);

  std::span<std::byte> bytes() const noexcept { return {data_, size_}; }

  // Bytes per page of this mapping.
  std::size_t page_bytes() const noexcept { return page_bytes_; }

  // What populate() makes the pages ready for.
  enum class Use {
    writing,  // present and writable: later writes take no page faults
    reading,  // present; the first write to each page still faults once
  };

  // Faults in the pages of bytes [offset, offset + length) for `use`.
  // Throws datatier::Error (ENOMEM when memory runs out).
  void populate(std::size_t offset, std::size_t length, Use use) const;

  // Sets the NUMA policy of the whole mapping; call before populate().
  // Throws datatier::Error (e.g. EINVAL for a node that does not exist,
  // ENOSYS where the kernel has no NUMA support or the library was built
  // without libnuma).
  void set_numa_policy(NumaPolicy policy, int node) const;

  // Locks the mapping's pages in RAM. Throws datatier::Error (ENOMEM, EPERM).
  void lock() const;

  // Writes the dirty pages of bytes [offset, offset + length) back to the file
  // and waits for them (msync MS_SYNC). `path` names the file in errors.
  void sync(std::size_t offset, std::size_t length, const std::filesystem::path& path) const;

  // Drops this process's page-table entries for bytes [offset, offset +
  // length) of a shared file mapping (MADV_DONTNEED); the bytes, dirty ones
  // included, stay in the file's page cache and the next access maps them
  // again. Does nothing for anonymous memory, whose bytes it would discard.
  // Best effort: where the kernel refuses (locked pages), the entries stay
  // and nothing else changes.
  void drop_page_table_entries(std::size_t offset, std::size_t length) const noexcept;

 private:
  Mapping(std::byte* data, std::size_t size, std::size_t mapped, std::size_t page_bytes,
          bool file_backed) noexcept
      : data_(data),
        size_(size),
        mapped_(mapped),
        page_bytes_(page_bytes),
        file_backed_(file_backed) {}
  void reset() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;    // bytes offered
  std::size_t mapped_ = 0;  // bytes mapped: size_ rounded up to whole pages
  std::size_t page_bytes_ = 0;
  bool file_backed_ = false;  // a shared mapping of a file
};

// Asks the kernel to back the range (private memory advised for
// transparent huge pages) by huge pages now, copying its small pages into
// them (MADV_COLLAPSE, Linux 6.1). False where it did not, for all or part
// of the range (an older kernel, no huge page free); the bytes are the
// same either way. Never throws.
bool collapse_to_huge_pages(std::span<std::byte> range) noexcept;

// Whether a child made by fork() gets the range (MADV_DOFORK) or not
// (MADV_DONTFORK: nothing is mapped there in the child). Throws
// datatier::Error.
void inherit_by_children(std::span<std::byte> range, bool inherit);

// The size of a base virtual memory page on this machine.
std::size_t page_size() noexcept;

// Bytes per page of a mapping on pages of `page_size`: 2 MiB, 1 GiB, or
// page_size() for the transparent and small kinds.
std::size_t page_bytes_of(PageSize page_size) noexcept;

// Throws for `bytes` of explicit huge pages of `page_size` the kernel
// refused: ENOMEM (none of that size free) or EINVAL (that size not
// supported, or never reserved) both mean the pages cannot be had, reported
// as ENOMEM (std::errc::not_enough_memory) with a message saying where they
// are reserved and `err`'s words.
[[noreturn]] void throw_no_huge_pages(int err, std::size_t bytes, PageSize page_size);

}  // namespace datatier::platform
