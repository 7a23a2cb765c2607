// mmap-based implementation of platform::Mapping.
#include "platform/mapping.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "platform/file.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

// Faults in every page of an anonymous region for writing. MADV_POPULATE_WRITE
// (Linux 5.14) does it in one call and, unlike MAP_POPULATE at mmap time, runs
// after MADV_HUGEPAGE so the region can be backed by huge pages. Older kernels
// get one write per page.
void populate_for_write(std::byte* data, std::size_t size) {
#ifdef MADV_POPULATE_WRITE
  if (syscalls().madvise(data, size, MADV_POPULATE_WRITE) == 0) return;
  if (errno != EINVAL) throw_errno(errno, {}, "cannot fault in " + std::to_string(size) + " bytes");
#endif
  const std::size_t step = page_size();
  for (std::size_t offset = 0; offset < size; offset += step) {
    // A volatile store so the compiler keeps every page's first write.
    *static_cast<volatile std::byte*>(data + offset) = std::byte{0};
  }
}

}  // namespace

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Mapping::~Mapping() { reset(); }

void Mapping::reset() noexcept {
  if (data_ != nullptr) {
    syscalls().munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }
}

Mapping Mapping::anonymous(std::size_t size) {
  if (size == 0) return Mapping();
  void* p = syscalls().mmap(nullptr, size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno(errno, {}, "cannot map " + std::to_string(size) + " bytes");
  Mapping mapping(static_cast<std::byte*>(p), size);
  // Huge pages are a preference, not a requirement: ignore a refusal.
  syscalls().madvise(p, size, MADV_HUGEPAGE);
  populate_for_write(mapping.data_, size);
  return mapping;
}

Mapping Mapping::shared(const File& file, std::size_t size) {
  if (size == 0) return Mapping();
  void* p = syscalls().mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                            file.fd(), 0);
  if (p == MAP_FAILED) throw_errno(errno, file.path(), "cannot map " + std::to_string(size) + " bytes");
  return Mapping(static_cast<std::byte*>(p), size);
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

}  // namespace datatier::platform
