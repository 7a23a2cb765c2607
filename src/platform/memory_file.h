// Memory files (memfd_create): shared memory that a descriptor names, so that
// another process holding the descriptor can map the same pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "datatier/memory_options.h"
#include "platform/unique_fd.h"

namespace datatier::platform {

// A new memory file of `size` bytes rounded up to whole pages of `page_size`:
// explicit huge pages (MFD_HUGETLB) for PageSize::huge_2mib and huge_1gib,
// the shared memory's ordinary pages otherwise. The file is sealed at that
// size (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL), so no holder of the
// descriptor can truncate it under another's mapping (a SIGBUS there). No
// page is allocated yet; explicit huge pages are reserved when the file is
// mapped (Mapping::memory_file). `name` shows in /proc/<pid>/maps.
// Throws: datatier::Error — ENOMEM with a message saying where huge pages
// are reserved when the kernel supports no memory file of that page size;
// ENOSYS on kernels without memfd_create; the errno of ftruncate or fcntl.
UniqueFd create_memory_file(const char* name, std::size_t size, PageSize page_size);

// What a memory file received from another process is: its size, and
// whether it is sealed against shrinking (as create_memory_file() leaves it).
struct MemoryFileStatus {
  std::uint64_t size = 0;
  bool sealed = false;
};

// fstat and F_GET_SEALS of `fd`. Throws: datatier::Error (errno; EINVAL for a
// descriptor that is no memory file, which has no seals).
MemoryFileStatus memory_file_status(int fd);

// Whether the kernel backs shared memory (memory files, tmpfs) mapped with
// MADV_HUGEPAGE by transparent huge pages: what
// /sys/kernel/mm/transparent_hugepage/shmem_enabled selects (always,
// within_size, advise or force), overridden by
// hugepages-2048kB/shmem_enabled where that exists and does not say
// "inherit". `setting` (when given) receives the setting that decided, for
// a message. False where the files cannot be read. Never throws.
bool shared_memory_has_transparent_huge_pages(std::string* setting = nullptr) noexcept;

// The selected value of a sysfs setting such as "always [advise] never":
// the word in brackets; "" when there is none. Never throws.
std::string selected_setting(const std::string& text) noexcept;

}  // namespace datatier::platform
