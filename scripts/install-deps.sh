#!/usr/bin/env bash
# Installs every Debian 12 package datatier needs to build, test, benchmark and
# package itself. The one place package installs live: the README and .ci/run
# both call it. Safe to run again; it installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  librust-blake3-dev          # the official BLAKE3 C sources (c/ directory)
  libgtest-dev libgmock-dev   # unit tests
  libbenchmark-dev            # micro-benchmarks under bench/
  libcli11-dev libfmt-dev nlohmann-json3-dev   # the datatier tool
  liburing-dev libnuma-dev    # fast I/O and memory placement
  clang libclang-rt-14-dev    # libFuzzer and sanitizer runtimes
  man-db groff-base           # checking the man page
  dpkg-dev file               # cpack -G DEB: dpkg-shlibdeps finds the packages' Depends
  python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
