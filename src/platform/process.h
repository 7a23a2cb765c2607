// Facts about the calling process that pool objects check.
#pragma once

namespace datatier::platform {

// The calling process's id (getpid).
int process_id() noexcept;

// Whether the calling process has the superuser's effective user id, and so
// may give a file another owner.
bool running_as_root() noexcept;

}  // namespace datatier::platform
