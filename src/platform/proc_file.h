// Reading a whole file of /proc, whose size stat(2) does not give.
#pragma once

#include <optional>
#include <string>

namespace datatier::platform {

// The text of the /proc file `path` (e.g. "/proc/locks"), read through the
// system-call table; nullopt where it cannot be read (no /proc, a read error,
// memory for the text). Never throws.
std::optional<std::string> read_proc_file(const char* path) noexcept;

}  // namespace datatier::platform
