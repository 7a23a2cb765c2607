// Reading /proc/locks (platform/proc_locks.h).
#include "platform/proc_locks.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "platform/proc_file.h"

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
  const std::optional<std::string> text = read_proc_file("/proc/locks");
  if (!text) return {};
  try {
    return flock_holders(*text, id);
  } catch (...) {
    // Only an allocation can fail here: then the kernel has not told.
    return {};
  }
}

}  // namespace datatier::platform
