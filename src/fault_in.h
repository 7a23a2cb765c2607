// Faulting a mapping's pages in on several threads.
#pragma once

#include "datatier/fallback.h"
#include "platform/mapping.h"

namespace datatier::detail {

// Faults in every page of `mapping` for `use`, the work shared among
// `threads` threads (0 = all cores) in slices. Returns the number of threads
// used: where the system refused some, fewer, reported to `on_fallback` as
// FallbackKind::fewer_threads. Throws datatier::Error (ENOMEM when memory
// runs out).
unsigned fault_in(const platform::Mapping& mapping, platform::Mapping::Use use, unsigned threads,
                  const FallbackHandler& on_fallback);

}  // namespace datatier::detail
