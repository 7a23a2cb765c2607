// Retrying a system call that an interrupting signal cut short.
#pragma once

#include <cerrno>

namespace datatier::platform {

// Calls `op` until it does not fail with EINTR; returns its last result.
template <typename Op>
auto retry_eintr(Op op) {
  decltype(op()) rc;
  do {
    rc = op();
  } while (rc < 0 && errno == EINTR);
  return rc;
}

}  // namespace datatier::platform
