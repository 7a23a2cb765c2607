// POSIX implementation of platform/process.h.
#include "platform/process.h"

#include <unistd.h>

namespace datatier::platform {

int process_id() noexcept {
  return static_cast<int>(::getpid());
}

bool running_as_root() noexcept {
  return ::geteuid() == 0;
}

}  // namespace datatier::platform
