// memfd_create-based memory files (platform/memory_file.h).
#include "platform/memory_file.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <optional>

#include "platform/mapping.h"
#include "platform/proc_file.h"
#include "platform/retry.h"
#include "platform/syscalls.h"
#include "platform/system_error.h"

namespace datatier::platform {
namespace {

// MFD_NOEXEC_SEAL (Linux 6.3): a memory file that can never be executed.
// Kernels since 6.3 log a warning for a memory file created without it or
// MFD_EXEC; older ones refuse it (EINVAL), and are asked again without.
#ifdef MFD_NOEXEC_SEAL
constexpr unsigned kNoExecSeal = MFD_NOEXEC_SEAL;
#else
constexpr unsigned kNoExecSeal = 0x0008U;
#endif

int memfd(const char* name, unsigned flags) {
  const int fd = syscalls().memfd_create(name, flags | kNoExecSeal);
  if (fd >= 0 || errno != EINVAL) return fd;
  return syscalls().memfd_create(name, flags);
}

}  // namespace

UniqueFd create_memory_file(const char* name, std::size_t size, PageSize page_size_wanted) {
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  if (page_size_wanted == PageSize::huge_2mib) flags |= MFD_HUGETLB | MFD_HUGE_2MB;
  if (page_size_wanted == PageSize::huge_1gib) flags |= MFD_HUGETLB | MFD_HUGE_1GB;
  const std::size_t page = page_bytes_of(page_size_wanted);
  const std::size_t bytes = (size + page - 1) / page * page;
  UniqueFd fd(memfd(name, flags));
  if (!fd) {
    // EINVAL: no hugetlbfs of that page size in this kernel.
    if ((flags & MFD_HUGETLB) != 0 && errno == EINVAL) {
      throw_no_huge_pages(errno, bytes, page_size_wanted);
    }
    throw_errno(errno, {}, "cannot create a memory file (memfd_create)");
  }
  if (retry_eintr([&] { return syscalls().ftruncate(fd.get(), static_cast<off_t>(bytes)); }) != 0) {
    throw_errno(errno, {}, "cannot size a memory file to " + std::to_string(bytes) + " bytes");
  }
  if (syscalls().fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    throw_errno(errno, {}, "cannot seal a memory file");
  }
  return fd;
}

MemoryFileStatus memory_file_status(int fd) {
  struct stat st {};
  if (syscalls().fstat(fd, &st) != 0) throw_errno(errno, {}, "cannot stat a memory file");
  const int seals = syscalls().fcntl(fd, F_GET_SEALS, 0);
  if (seals < 0) throw_errno(errno, {}, "cannot read the seals of a memory file");
  return {static_cast<std::uint64_t>(st.st_size), (seals & F_SEAL_SHRINK) != 0};
}

std::string selected_setting(const std::string& text) noexcept {
  const std::size_t open = text.find('[');
  const std::size_t close = text.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  try {
    return text.substr(open + 1, close - open - 1);
  } catch (...) {
    return {};
  }
}

bool shared_memory_has_transparent_huge_pages(std::string* setting) noexcept {
  const auto read_setting = [](const char* path) -> std::string {
    const std::optional<std::string> text = read_proc_file(path);
    return text ? selected_setting(*text) : std::string();
  };
  std::string chosen = read_setting("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  // Linux 6.11 and later: a setting per huge page size, which may override.
  const std::string per_size =
      read_setting("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/shmem_enabled");
  if (!per_size.empty() && per_size != "inherit") chosen = per_size;
  const bool huge =
      chosen == "always" || chosen == "within_size" || chosen == "advise" || chosen == "force";
  if (setting != nullptr) {
    try {
      *setting = chosen;
    } catch (...) {
      // The verdict stands without the words.
    }
  }
  return huge;
}

}  // namespace datatier::platform
