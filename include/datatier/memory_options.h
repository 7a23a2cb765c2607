// How a Memory pool's DRAM is placed: page size, NUMA node, locking, threads.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstddef>

#include "datatier/fallback.h"

namespace datatier {

// The page size to back a Memory pool with.
enum class PageSize {
  // Ordinary pages, with transparent huge pages requested (MADV_HUGEPAGE)
  // wherever the kernel allows them. The default.
  transparent,
  // Ordinary pages only (MADV_NOHUGEPAGE).
  small,
  // Explicit 2 MiB huge pages from the kernel's pool (MAP_HUGETLB).
  huge_2mib,
  // Explicit 1 GiB huge pages from the kernel's pool (MAP_HUGETLB).
  huge_1gib,
};

// The NUMA policy for a Memory pool's pages. bind and interleave need a
// libdatatier built with libnuma; one built without it (CMake option DATATIER_NUMA)
// refuses them with std::errc::function_not_supported.
enum class NumaPolicy {
  local,       // the kernel's default: each page on the node of the thread that faults it
  bind,        // every page on MemoryOptions::numa_node
  interleave,  // pages spread round-robin over all nodes
};

struct MemoryOptions {
  PageSize page_size = PageSize::transparent;
  // When explicit huge pages cannot be had, fall back along
  // 1 GiB → 2 MiB → transparent, instead of failing. The pool reports what it
  // got (Memory::placement()).
  bool fallback = true;
  NumaPolicy numa = NumaPolicy::local;
  int numa_node = 0;  // for NumaPolicy::bind
  // Lock the pages in RAM (mlock), so they are never swapped out.
  bool lock = false;
  // Threads to fault the pages in on; 0 = all cores.
  unsigned threads = 0;
  // Put the memory in a memory file (memfd_create) mapped shared instead of
  // private anonymous memory, so that a FileBackedMemory can hand it to
  // another process (FileBackedMemory::hand_off()). The page sizes are the
  // same choices: explicit huge pages come from the same reserved pools
  // (a hugetlbfs memory file); transparent huge pages only where the
  // kernel's setting for shared memory,
  // /sys/kernel/mm/transparent_hugepage/shmem_enabled, allows them
  // (always, within_size, advise); where it does not (never, the usual
  // default), the pool gets small pages, placement() says
  // PageSize::small, and on_fallback hears it as
  // FallbackKind::smaller_pages. What it costs: faulting in small shared
  // pages runs at about 1 GB/s against 15-20 GB/s for private memory on
  // transparent huge pages, and every access then needs 512 times the TLB
  // entries (docs/performance.md).
  bool shareable = false;
  // Hears of each fallback create() takes: smaller pages, fewer threads
  // (datatier/fallback.h).
  FallbackHandler on_fallback;
};

// What a pool's memory actually got: for a Memory or FileBackedMemory, its
// anonymous memory; for an MmapFile, its shared mapping of the file.
struct Placement {
  PageSize page_size = PageSize::transparent;
  // Bytes per page of the mapping: the base page size, 2 MiB or 1 GiB. With
  // PageSize::transparent it is the base page size; the kernel then backs
  // aligned 2 MiB ranges with huge pages as it can.
  std::size_t page_bytes = 4096;
  NumaPolicy numa = NumaPolicy::local;
  int numa_node = -1;  // for NumaPolicy::bind
  bool locked = false;
  // The memory is a memory file mapped shared (MemoryOptions::shareable).
  bool shared = false;
  // Threads the pages were faulted in on: those that ran, fewer than asked
  // where the system refused a thread (reported as FallbackKind::fewer_threads).
  unsigned threads = 1;
  // Bytes of the pool that huge pages back at the moment placement() is
  // called, as the kernel counts them in /proc/self/smaps: explicit huge
  // pages, and transparent ones the kernel gave at fault-in or has since
  // assembled (khugepaged) or split. 0 where the kernel does not say. At
  // most the pool's size.
  std::size_t huge_bytes = 0;
};

}  // namespace datatier
