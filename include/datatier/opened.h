// What open_or_create() returns: the pool, and whether it was opened, made
// or made anew.
#pragma once

#include "datatier/cxx_standard.h"

#include <system_error>

namespace datatier {

// How open_or_create() came by its pool.
enum class Outcome {
  opened,     // the file was there and passed every check
  created,    // there was no file: a new, zero-filled pool
  recreated,  // the file failed a format check (see `reason`): replaced by a new pool
};

template <typename Pool>
struct Opened {
  Pool pool;
  Outcome outcome;
  // Why the file was not opened (a datatier::errc) when `outcome` is
  // recreated; empty otherwise.
  std::error_code reason;
};

}  // namespace datatier
