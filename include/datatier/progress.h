// Progress reports from long calls, and cancelling them.
#pragma once

#include "datatier/cxx_standard.h"

#include <cstdint>
#include <functional>

namespace datatier {

// Called now and then during a long call (FileOptions::progress for the file
// pools' open(), flush(), flush_full() and close(); VerifyOptions::progress
// for verify_file()) with the work done so far and the total, in bytes, as
// each call documents. Calls come from any of the call's threads, never two
// at once; `done` never decreases, and unless the call ends early the last
// report has done == total. Return true to go on, false to cancel: the call
// then stops as soon as it can and throws datatier::Error with
// std::errc::operation_canceled, leaving what each call documents (false
// from the last report, done == total, comes too late and is ignored). The
// callback must not call into the pool it reports on.
using Progress = std::function<bool(std::uint64_t done, std::uint64_t total)>;

}  // namespace datatier
