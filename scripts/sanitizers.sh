#!/usr/bin/env bash
# Builds and runs the whole test suite under the sanitizer presets
# (CMakePresets.json; build dirs build/<preset>).
#
#   scripts/sanitizers.sh            AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/sanitizers.sh tsan       ThreadSanitizer (the library hashes in threads)
#   scripts/sanitizers.sh all        both
#
# DATATIER_JOBS sets the build and test parallelism (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-asan}" in
  asan) presets=(asan) ;;
  tsan) presets=(tsan) ;;
  all) presets=(asan tsan) ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
jobs=${DATATIER_JOBS:-$(nproc)}

# Fail on the first report, with a stack; LeakSanitizer runs with ASan.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

for preset in "${presets[@]}"; do
  echo "== sanitizers: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$jobs"
  ctest --preset "$preset" -j"$jobs"
done
