#!/usr/bin/env bash
# Builds the Debian packages (cpack -G DEB) from a built release tree, installs
# them on this machine with dpkg -i and checks them as a user would: the tool
# on the PATH and its man page, a pool made, verified and removed with it, and
# the consumer test (scripts/consumer-test.sh) against /usr. Then removes the
# packages again (dpkg --purge: dpkg -r would keep their record as removed
# with configuration left), whatever happened, leaving the machine as it was.
# Refuses to run where datatier is installed under /usr already. Needs root
# (or sudo). Ends with a PASS or FAIL line; exits non-zero on failure.
#
#   scripts/deb-test.sh [BUILD_DIR]      default: build/release
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
packages=(libdatatier-dev datatier)

fail() {
  echo "deb-test: $*" >&2
  echo "deb-test: FAIL"
  exit 1
}

# One run at a time on a machine: two would install and remove each other's
# packages.
lock_dir=/run/lock
[[ -w $lock_dir ]] || lock_dir=/tmp
exec 9>"$lock_dir/datatier-deb-test.lock"
flock 9

for p in "${packages[@]}"; do
  if dpkg-query -W "$p" >/dev/null 2>&1; then
    fail "dpkg knows the package $p already ($(dpkg-query -W -f='${Status}' "$p")); not touching it"
  fi
done
for f in /usr/bin/datatier /usr/include/datatier; do
  [[ ! -e $f ]] || fail "$f exists already (installed by hand?); not touching it"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/datatier-deb.XXXXXX")
cleanup() {
  for p in "${packages[@]}"; do
    if dpkg-query -W "$p" >/dev/null 2>&1; then
      $sudo dpkg --purge "$p" >/dev/null
    fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "==> cpack -G DEB in $build"
(cd "$build" && cpack -G DEB -B "$tmp/packages") >"$tmp/cpack.log" 2>&1 || {
  cat "$tmp/cpack.log"
  fail "cpack failed"
}
debs=("$tmp"/packages/*.deb)
for deb in "${debs[@]}"; do
  printf '  %s: Depends: %s\n' "$(basename "$deb")" "$(dpkg-deb -f "$deb" Depends)"
  ! dpkg-deb -c "$deb" | grep -qi blake3 || fail "$(basename "$deb") holds a BLAKE3 file"
done
if readelf -d "$build/tools/datatier/datatier" | grep -q libnuma; then
  dpkg-deb -f "$tmp"/packages/datatier_*.deb Depends | grep -q libnuma1 ||
    fail "the datatier package does not depend on libnuma1"
fi

echo "==> dpkg -i"
$sudo dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1 || {
  cat "$tmp/dpkg.log"
  fail "dpkg -i failed"
}

echo "==> the installed tool"
[[ $(command -v datatier) == /usr/bin/datatier ]] || fail "datatier is not /usr/bin/datatier"
datatier --version
man -w datatier
ldconfig -p | grep -q 'libdatatier\.so\.0 ' || fail "ldconfig does not know libdatatier.so.0"
datatier create "$tmp/p.pool" --size 64KiB --kind fbm --fill random --seed 1
datatier verify "$tmp/p.pool"
datatier rm "$tmp/p.pool"

echo "==> scripts/consumer-test.sh --installed /usr"
bash "$root/scripts/consumer-test.sh" --installed /usr || fail "the consumer test failed"

echo "==> dpkg --purge"
$sudo dpkg --purge "${packages[@]}" >/dev/null
[[ ! -e /usr/bin/datatier && ! -e /usr/include/datatier ]] || fail "dpkg --purge left files behind"
! dpkg-query -W "${packages[@]}" >/dev/null 2>&1 || fail "dpkg still lists a package"
echo "deb-test: PASS"
