// Which processes hold flock(2) locks on a file, as the kernel lists them in
// /proc/locks.
#pragma once

#include <string_view>
#include <vector>

#include "platform/file.h"

namespace datatier::platform {

// The process ids that the text of /proc/locks (`proc_locks`) gives as
// holding flock(2) locks on the file `id`, each once, in the order listed.
// Waiting requests ("->" lines), POSIX and OFD locks, and lines that do not
// parse are skipped.
std::vector<int> flock_holders(std::string_view proc_locks, const FileId& id);

// The same, reading /proc/locks (the ids are those of the caller's PID
// namespace). Empty where the kernel does not say: no /proc, or a read
// error. Never throws.
std::vector<int> flock_holders(const FileId& id) noexcept;

}  // namespace datatier::platform
