#!/usr/bin/env bash
# Builds the libFuzzer target with clang (ASan + UBSan) in build/fuzz and runs
# it for a bounded time, seeded with the golden pool files.
#
#   scripts/fuzz.sh [seconds]      default 60
#
# Prints the number of executions. Crashing inputs are left in build/fuzz/
# (crash-*, leak-*, timeout-*); rerun one with build/fuzz/fuzz/pool_fuzzer FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
jobs=${DATATIER_JOBS:-2}
build=build/fuzz
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDATATIER_WERROR=ON \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DDATATIER_BUILD_FUZZERS=ON -DDATATIER_BUILD_TESTS=OFF -DDATATIER_BUILD_TOOLS=OFF \
  -DDATATIER_BUILD_EXAMPLES=OFF -DDATATIER_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target pool_fuzzer

# Seeds: each golden file behind the 9-byte parameter prefix of zeros (sizes
# derived from the file, user version from its header: they open cleanly).
seeds="$build/seeds"
corpus="$build/corpus"
rm -rf "$seeds"
mkdir -p "$seeds" "$corpus"
for golden in tests/data/*.pool tests/data/extra/*.pool; do
  [[ -f $golden ]] || continue
  { head -c 9 /dev/zero; cat "$golden"; } >"$seeds/$(basename "$golden")"
done

log="$build/fuzz.log"
cd "$build"
set +e
./fuzz/pool_fuzzer -max_total_time="$seconds" -max_len=80000 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 corpus seeds >fuzz.log 2>&1
status=$?
set -e
cd - >/dev/null
grep -E "^stat::number_of_executed_units|^stat::new_units_added|^Done" "$log" || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
echo "fuzz: ${execs:-0} executions in ${seconds} s (log: $log)"
if ((status != 0)); then
  tail -40 "$log"
  echo "fuzz: FAILED (status $status)" >&2
  exit "$status"
fi
