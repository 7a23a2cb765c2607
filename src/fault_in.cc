// Parallel fault-in: the kernel's page-fault path scales across cores, so
// populating a large pool on all of them is several times faster than on one.
#include "fault_in.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "parallel.h"
#include "report_fallback.h"

namespace datatier::detail {
namespace {

// Threads take slices of this size in turn: large enough that each call's
// fixed cost vanishes, a multiple of every page size up to 2 MiB so no two
// threads touch one huge page, and small enough to balance the load.
constexpr std::size_t kSlice = std::size_t{64} << 20;

}  // namespace

unsigned fault_in(const platform::Mapping& mapping, platform::Mapping::Use use, unsigned threads,
                  const FallbackHandler& on_fallback) {
  const std::size_t size = mapping.bytes().size();
  const std::size_t slices = (size + kSlice - 1) / kSlice;
  const auto workers =
      static_cast<unsigned>(std::clamp<std::size_t>(slices, 1, resolve_threads(threads)));
  std::atomic<std::size_t> next{0};
  const unsigned ran = run_parallel(workers, [&](unsigned) {
    for (std::size_t slice = next++; slice < slices; slice = next++) {
      const std::size_t offset = slice * kSlice;
      mapping.populate(offset, std::min(kSlice, size - offset), use);
    }
  });
  if (ran < workers) {
    report_fallback(on_fallback, FallbackKind::fewer_threads,
                    "the system refused " + std::to_string(workers - ran) + " of " +
                        std::to_string(workers - 1) +
                        " threads to fault pages in on; faulted in on " + std::to_string(ran));
  }
  return ran;
}

}  // namespace datatier::detail
