#!/usr/bin/env bash
# The crash test at scale: kills tests/reliability/crash_writer with SIGKILL at
# random moments COUNT times per pool kind (FileBackedMemory and MmapFile) and
# checks after every kill that the pool holds exactly the last completed
# generation or the one in flight (MmapFile: or reports unclean shutdown /
# checksum mismatch). CI runs 30 per kind through ctest.
#
#   scripts/crash-test.sh [COUNT] [SEED]     default 1000 kills per kind, seed 1
#
# DATATIER_CRASH_MAX_DELAY_US bounds the random delay before each kill
# (default 100000). Builds build/rel if needed. About 45 s per 1000 kills.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-1000}
seed=${2:-1}
build=build/rel
jobs=${DATATIER_JOBS:-2}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" --target crash_test crash_writer
DATATIER_CRASH_KILLS=$count DATATIER_CRASH_SEED=$seed "$build/tests/reliability/crash_test"
