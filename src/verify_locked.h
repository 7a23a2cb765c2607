// verify_file() on a file the caller has already opened and locked.
#pragma once

#include "datatier/verify.h"
#include "platform/file.h"

namespace datatier::detail {

// Runs every check verify_file() runs on `file`, read-only, taking no lock:
// for a caller that holds one already (a shared one, or an exclusive one
// while it changes the file's name). Throws as verify_file() does.
VerifyReport verify_locked(const platform::File& file, const VerifyOptions& options);

}  // namespace datatier::detail
