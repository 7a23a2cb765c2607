// Telling the caller's FallbackHandler of a fallback taken.
#pragma once

#include <string>

#include "datatier/fallback.h"

namespace datatier::detail {

// Calls `handler`, unless it is empty, with {kind, message}. An exception
// from the handler (which its contract forbids) is ignored, so that the
// operation taking the fallback goes on. Never throws.
void report_fallback(const FallbackHandler& handler, FallbackKind kind,
                     std::string message) noexcept;

}  // namespace datatier::detail
