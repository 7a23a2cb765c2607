// Reading a /proc file (platform/proc_file.h).
#include "platform/proc_file.h"

#include <fcntl.h>

#include "platform/retry.h"
#include "platform/syscalls.h"
#include "platform/unique_fd.h"

namespace datatier::platform {

std::optional<std::string> read_proc_file(const char* path) noexcept {
  try {
    const UniqueFd fd(
        retry_eintr([path] { return syscalls().openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0); }));
    if (fd.get() < 0) return std::nullopt;
    std::string text;
    char buffer[16384];
    for (;;) {
      const ssize_t n = retry_eintr([&] {
        return syscalls().pread(fd.get(), buffer, sizeof buffer, static_cast<off_t>(text.size()));
      });
      if (n < 0) return std::nullopt;
      if (n == 0) return text;
      text.append(buffer, static_cast<std::size_t>(n));
    }
  } catch (...) {
    // Only an allocation can fail here: then the kernel has not told.
    return std::nullopt;
  }
}

}  // namespace datatier::platform
