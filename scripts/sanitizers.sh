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

# Tests that measure the process itself, which ThreadSanitizer changes, or
# that race a deadline it cannot meet; each still runs in the release and ASan
# runs, and the threads they start are exercised by the other tests here:
#   Threads.NoCallLeavesAThreadRunning counts /proc/self/task, and TSan starts
#     a background thread of its own at the process's first pthread_create.
#   Threads.FileBackedMemoryLoadsWithoutASecondCopy bounds the peak resident
#     size, which TSan's shadow memory multiplies.
#   cli_bench_interrupt waits at most 60 s for a 256 MiB x 5 bench to reach
#     its FileBackedMemory phase, which takes longer under TSan.
tsan_exclude='^(Threads\.NoCallLeavesAThreadRunning|Threads\.FileBackedMemoryLoadsWithoutASecondCopy|cli_bench_interrupt)$'

for preset in "${presets[@]}"; do
  echo "== sanitizers: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$jobs"
  exclude=()
  [[ $preset == tsan ]] && exclude=(-E "$tsan_exclude")
  ctest --preset "$preset" -j"$jobs" "${exclude[@]}"
done
