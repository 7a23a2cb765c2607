#!/usr/bin/env bash
# Plain Release builds (-O3), warnings as errors, with each compiler CI has:
#
#   gcc    build/gcc-release: everything (library, tool, tests, examples,
#          benchmarks), then every ctest test, so the suite also runs at -O3.
#   clang  build/clang-release, built without libnuma (DATATIER_NUMA=OFF): the
#          library, the tool, the examples and memory_test, then the tests of
#          those (NUMA policies refused cleanly) and the C++20 header check.
#
#   scripts/compilers.sh [gcc|clang|all]      default: all
#
# DATATIER_JOBS sets the build and test parallelism (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-all}" in
  gcc | clang) compilers=("$1") ;;
  all) compilers=(gcc clang) ;;
  *) echo "usage: $0 [gcc|clang|all]" >&2; exit 2 ;;
esac
jobs=${DATATIER_JOBS:-$(nproc)}

for compiler in "${compilers[@]}"; do
  build=build/$compiler-release
  echo "== compilers: $compiler, $build"
  case $compiler in
    gcc)
      CC=gcc CXX=g++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDATATIER_WERROR=ON \
        -G Ninja >/dev/null
      cmake --build "$build" -j"$jobs"
      ctest --test-dir "$build" -j"$jobs" --output-on-failure
      ;;
    clang)
      CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDATATIER_WERROR=ON \
        -DDATATIER_NUMA=OFF -DDATATIER_BUILD_BENCHMARKS=OFF -G Ninja >/dev/null
      cmake --build "$build" -j"$jobs" --target datatier datatier_cli warm_restart rolling_restart c_example datapool_example memory_test
      ctest --test-dir "$build" -j"$jobs" --output-on-failure \
        -R '^(MemoryPlacement\.|example_|public_headers_need_cxx20$)'
      ;;
  esac
done
