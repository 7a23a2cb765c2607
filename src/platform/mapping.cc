// mmap-based implementation of platform::Mapping.
#include "platform/mapping.h"

#include <linux/mman.h>
#include <sys/mman.h>
#include <unistd.h>
#if DATATIER_HAVE_LIBNUMA
#include <numa.h>
#include <numaif.h>
#endif

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "platform/file.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

constexpr std::size_t k2MiB = std::size_t{2} << 20;
constexpr std::size_t k1GiB = std::size_t{1} << 30;

std::size_t round_up(std::size_t n, std::size_t unit) {
  return (n + unit - 1) / unit * unit;
}

// The huge-page advice for a mapping on pages of `page_size_wanted`.
// Transparent huge pages are a preference, never a requirement: a kernel
// that refuses the advice still gives ordinary pages.
void advise_page_size(void* p, std::size_t mapped, PageSize page_size_wanted) noexcept {
  if (page_size_wanted == PageSize::transparent) syscalls().madvise(p, mapped, MADV_HUGEPAGE);
  if (page_size_wanted == PageSize::small) syscalls().madvise(p, mapped, MADV_NOHUGEPAGE);
}

}  // namespace

// Memory reports huge pages it cannot have as std::errc::not_enough_memory,
// whichever of the two the kernel said.
void throw_no_huge_pages(int err, std::size_t mapped, PageSize page_size_wanted) {
  const bool one_gib = page_size_wanted == PageSize::huge_1gib;
  const std::string what = std::string(one_gib ? "1 GiB" : "2 MiB") + " huge pages";
  const std::string pool = one_gib ? "hugepages-1048576kB" : "hugepages-2048kB";
  const std::string refusal = std::error_code(err, std::system_category()).message();
  throw_errno(ENOMEM, {},
              "cannot map " + std::to_string(mapped) + " bytes on explicit " + what + ": " + what +
                  " are not available (the kernel said: " + refusal + "); reserve them in " +
                  "/sys/kernel/mm/hugepages/" + pool + "/nr_hugepages");
}

std::size_t page_size() noexcept {
  static const auto kSize = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return kSize;
}

std::size_t page_bytes_of(PageSize page_size_wanted) noexcept {
  if (page_size_wanted == PageSize::huge_2mib) return k2MiB;
  if (page_size_wanted == PageSize::huge_1gib) return k1GiB;
  return page_size();
}

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      page_bytes_(std::exchange(other.page_bytes_, 0)),
      file_backed_(std::exchange(other.file_backed_, false)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    page_bytes_ = std::exchange(other.page_bytes_, 0);
    file_backed_ = std::exchange(other.file_backed_, false);
  }
  return *this;
}

Mapping::~Mapping() {
  reset();
}

void Mapping::reset() noexcept {
  if (data_ != nullptr) {
    syscalls().munmap(data_, mapped_);
    data_ = nullptr;
    size_ = mapped_ = 0;
  }
}

Mapping Mapping::anonymous(std::size_t size, PageSize page_size_wanted) {
  if (size == 0) return Mapping(nullptr, 0, 0, page_size(), false);
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (page_size_wanted == PageSize::huge_2mib) {
    flags |= MAP_HUGETLB | static_cast<int>(MAP_HUGE_2MB);
  } else if (page_size_wanted == PageSize::huge_1gib) {
    flags |= MAP_HUGETLB | static_cast<int>(MAP_HUGE_1GB);
  }
  const std::size_t page = page_bytes_of(page_size_wanted);
  const std::size_t mapped = round_up(size, page);
  void* p = syscalls().mmap(nullptr, mapped, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    if ((flags & MAP_HUGETLB) != 0 && (err == ENOMEM || err == EINVAL)) {
      throw_no_huge_pages(err, mapped, page_size_wanted);
    }
    throw_errno(err, {}, "cannot map " + std::to_string(mapped) + " bytes");
  }
  Mapping mapping(static_cast<std::byte*>(p), size, mapped, page, false);
  advise_page_size(p, mapped, page_size_wanted);
  return mapping;
}

Mapping Mapping::memory_file(int fd, std::size_t size, PageSize page_size_wanted) {
  const std::size_t page = page_bytes_of(page_size_wanted);
  if (size == 0) return Mapping(nullptr, 0, 0, page, false);
  const std::size_t mapped = round_up(size, page);
  void* p = syscalls().mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    // A memory file on explicit huge pages reserves them when it is mapped.
    const bool huge = page != page_size();
    if (huge && (err == ENOMEM || err == EINVAL)) {
      throw_no_huge_pages(err, mapped, page_size_wanted);
    }
    throw_errno(err, {}, "cannot map " + std::to_string(mapped) + " bytes of a memory file");
  }
  Mapping mapping(static_cast<std::byte*>(p), size, mapped, page, false);
  advise_page_size(p, mapped, page_size_wanted);
  return mapping;
}

Mapping Mapping::shared(const File& file, std::size_t size, bool writable) {
  if (size == 0) return Mapping(nullptr, 0, 0, page_size(), true);
  const int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* p = syscalls().mmap(nullptr, size, prot, MAP_SHARED, file.fd(), 0);
  if (p == MAP_FAILED) {
    throw_errno(errno, file.path(), "cannot map " + std::to_string(size) + " bytes");
  }
  // Where the file system keeps files in large page-cache folios (ext4 and
  // XFS on Linux 6.x), the advice has faults fill and map whole 2 MiB folios:
  // one fault and one page-table entry per 2 MiB instead of 512. A 4 GiB pool
  // file filled through a new mapping: 0.5 s with it, 2.2 s without. Only a
  // preference, as for anonymous memory.
  syscalls().madvise(p, size, MADV_HUGEPAGE);
  return Mapping(static_cast<std::byte*>(p), size, size, page_size(), true);
}

void Mapping::populate(std::size_t offset, std::size_t length, Use use) const {
  if (length == 0) return;
  // Whole pages around the range: madvise wants an aligned start.
  const std::size_t start = offset / page_bytes_ * page_bytes_;
  const std::size_t end = std::min(round_up(offset + length, page_bytes_), mapped_);
#ifdef MADV_POPULATE_WRITE
  // One call per range (Linux 5.14); unlike MAP_POPULATE it runs after the
  // huge page advice and on as many threads as the caller splits it over.
  const int advice = use == Use::writing ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
  if (syscalls().madvise(data_ + start, end - start, advice) == 0) return;
  if (errno != EINVAL) {
    throw_errno(errno, {}, "cannot fault in " + std::to_string(end - start) + " bytes");
  }
#endif
  // Older kernels: one touch per page. The bytes are zero, so writing a zero
  // changes nothing but makes the page present and writable; reading one
  // makes it present.
  for (std::size_t at = start; at < end; at += page_size()) {
    auto* const page = static_cast<volatile std::byte*>(data_ + at);
    if (use == Use::writing) {
      *page = std::byte{0};
    } else {
      static_cast<void>(*page);
    }
  }
}

void Mapping::set_numa_policy(NumaPolicy policy, int node) const {
  if (policy == NumaPolicy::local) return;
#if !DATATIER_HAVE_LIBNUMA
  static_cast<void>(node);
  throw_errno(ENOSYS, {}, "cannot set a NUMA policy: datatier was built without libnuma");
#else
  if (mapped_ == 0) return;
  if (numa_available() < 0) throw_errno(ENOSYS, {}, "cannot set a NUMA policy");
  const int max_node = numa_max_node();
  std::vector<unsigned long> mask(static_cast<std::size_t>(max_node) / (8 * sizeof(unsigned long)) +
                                  1);
  const auto set_bit = [&](int n) {
    mask[static_cast<std::size_t>(n) / (8 * sizeof(unsigned long))] |=
        1UL << (static_cast<std::size_t>(n) % (8 * sizeof(unsigned long)));
  };
  int mode = MPOL_INTERLEAVE;
  if (policy == NumaPolicy::bind) {
    if (node < 0 || node > max_node) {
      throw_errno(EINVAL, {},
                  "NUMA node " + std::to_string(node) + " does not exist (nodes 0.." +
                      std::to_string(max_node) + ")");
    }
    set_bit(node);
    mode = MPOL_BIND;
  } else {
    for (int n = 0; n <= max_node; ++n) {
      if (numa_bitmask_isbitset(numa_all_nodes_ptr, static_cast<unsigned>(n))) set_bit(n);
    }
  }
  if (syscalls().mbind(data_, mapped_, mode, mask.data(), static_cast<unsigned long>(max_node) + 2,
                       0) != 0) {
    throw_errno(errno, {}, "cannot set the NUMA policy");
  }
#endif
}

void Mapping::lock() const {
  if (mapped_ == 0) return;
  if (syscalls().mlock(data_, mapped_) != 0) {
    throw_errno(errno, {}, "cannot lock " + std::to_string(mapped_) + " bytes in memory");
  }
}

void Mapping::sync(std::size_t offset, std::size_t length,
                   const std::filesystem::path& path) const {
  if (length == 0) return;
  // msync wants a page-aligned start.
  const std::size_t start = offset - offset % page_size();
  for (;;) {
    if (syscalls().msync(data_ + start, offset + length - start, MS_SYNC) == 0) return;
    if (errno != EINTR) throw_errno(errno, path, "cannot sync mapped bytes");
  }
}

void Mapping::drop_page_table_entries(std::size_t offset, std::size_t length) const noexcept {
  if (!file_backed_ || length == 0) return;
  const std::size_t start = offset - offset % page_size();
  syscalls().madvise(data_ + start, offset + length - start, MADV_DONTNEED);
}

void inherit_by_children(std::span<std::byte> range, bool inherit) {
  if (syscalls().madvise(range.data(), range.size(), inherit ? MADV_DOFORK : MADV_DONTFORK) != 0) {
    throw_errno(errno, {}, inherit ? "cannot let children inherit memory (MADV_DOFORK)"
                                   : "cannot keep memory from children (MADV_DONTFORK)");
  }
}

bool collapse_to_huge_pages(std::span<std::byte> range) noexcept {
  // Linux 6.1's value, for C libraries whose headers predate it.
  constexpr int kCollapse = 25;
  return syscalls().madvise(range.data(), range.size(), kCollapse) == 0;
}

}  // namespace datatier::platform
