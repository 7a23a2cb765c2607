// report_fallback(): a fallback's one call of the caller's handler.
#include "report_fallback.h"

#include <utility>

namespace datatier::detail {

void report_fallback(const FallbackHandler& handler, FallbackKind kind,
                     std::string message) noexcept {
  if (!handler) return;
  try {
    handler(Fallback{kind, std::move(message)});
  } catch (...) {
    // The handler broke its contract; the pool's operation is not its to stop.
  }
}

}  // namespace datatier::detail
