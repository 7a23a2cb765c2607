#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds the release preset,
# runs the suites that need builds of their own (ASan + UBSan, TSan, Release
# builds with GCC and clang, fuzzing, the install + consumer check, the Debian
# packages installed and removed again, everything against a shared
# libdatatier), then every ctest test of the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release -j"$(nproc)"

# The sanitizer runs: ASan + UBSan, then ThreadSanitizer.
echo "== scripts/sanitizers.sh all"
bash scripts/sanitizers.sh all

# Plain Release builds, warnings as errors: GCC (with its tests) and clang
# (without libnuma).
echo "== scripts/compilers.sh"
bash scripts/compilers.sh

for extra in scripts/fuzz.sh scripts/consumer-test.sh scripts/deb-test.sh; do
  if [[ -f $extra ]]; then
    echo "== $extra"
    bash "$extra"
  fi
done

# The same suite with libdatatier built as a shared library.
echo "== shared preset"
cmake --preset shared
cmake --build --preset shared -j"$(nproc)"
ctest --preset shared -j"$(nproc)"

ctest --preset release -j"$(nproc)"
