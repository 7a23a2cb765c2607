// Reading /proc/locks (platform/proc_locks.h).
#include "platform/proc_locks.h"

#include <fcntl.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "platform/retry.h"
#include "platform/syscalls.h"
#include "platform/unique_fd.h"

namespace datatier::platform {
namespace {

// /proc/locks names a file as "MAJOR:MINOR:INODE", the device numbers in
// hex (fs/locks.c).
bool same_file(const char* text, const FileId& id) {
  unsigned major_number = 0;
  unsigned minor_number = 0;
  std::uint64_t inode = 0;
  if (std::sscanf(text, "%x:%x:%" SCNu64, &major_number, &minor_number, &inode) != 3) {
    return false;
  }
  const auto device = static_cast<dev_t>(id.device);
  return major_number == major(device) && minor_number == minor(device) && inode == id.inode;
}

}  // namespace

std::vector<int> flock_holders(std::string_view proc_locks, const FileId& id) {
  std::vector<int> holders;
  while (!proc_locks.empty()) {
    const std::size_t end = std::min(proc_locks.find('\n'), proc_locks.size());
    const std::string line(proc_locks.substr(0, end));
    proc_locks.remove_prefix(std::min(end + 1, proc_locks.size()));
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
    char type[16] = "";
    char file[64] = "";
    int pid = 0;
    if (std::sscanf(line.c_str(), "%*d: %15s %*s %*s %d %63s", type, &pid, file) != 3) continue;
    if (std::string_view(type) != "FLOCK" || pid <= 0 || !same_file(file, id)) continue;
    if (std::find(holders.begin(), holders.end(), pid) == holders.end()) holders.push_back(pid);
  }
  return holders;
}

std::vector<int> flock_holders(const FileId& id) noexcept {
  try {
    const UniqueFd fd(retry_eintr(
        [] { return syscalls().openat(AT_FDCWD, "/proc/locks", O_RDONLY | O_CLOEXEC, 0); }));
    if (fd.get() < 0) return {};
    std::string text;
    char buffer[16384];
    for (;;) {
      const ssize_t n = retry_eintr([&] {
        return syscalls().pread(fd.get(), buffer, sizeof buffer, static_cast<off_t>(text.size()));
      });
      if (n < 0) return {};
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    return flock_holders(text, id);
  } catch (...) {
    // Only an allocation can fail here: then the kernel has not told.
    return {};
  }
}

}  // namespace datatier::platform
