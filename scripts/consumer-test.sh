#!/usr/bin/env bash
# Installs datatier into a temporary prefix and builds an outside project
# (tests/consumer/) against it twice, through the CMake package and through
# pkg-config, then runs what it built; then moves the prefix elsewhere and
# builds and runs it again through the CMake package. Ends with a PASS or FAIL
# line; exits non-zero on failure.
#
#   scripts/consumer-test.sh [BUILD_DIR]           default: build/release
#   scripts/consumer-test.sh --installed PREFIX    e.g. /usr, after dpkg -i
#
# BUILD_DIR must already be configured and built (cmake --preset release &&
# cmake --build --preset release). With --installed, the same checks and
# builds run against the datatier already installed under PREFIX (by a
# package, say), which is neither installed nor moved.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/datatier-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
installed=""
if [[ ${1:-} == --installed ]]; then
  installed=${2:?"consumer-test: --installed needs a prefix"}
  prefix=$installed
else
  build=${1:-$root/build/release}
  build=$(cd "$build" 2>/dev/null && pwd) || {
    echo "consumer-test: no build directory ${1:-$root/build/release}; run" \
         "'cmake --preset release && cmake --build --preset release' first" >&2
    echo "consumer-test: FAIL"
    exit 1
  }
  prefix=$tmp/prefix
fi
failures=0
checks=0

step() { printf '\n==> %s\n' "$*"; }
# run CMD...: prints the command, runs it, counts a failure if it fails.
run() {
  printf '+ %s\n' "$*"
  checks=$((checks + 1))
  if ! "$@"; then
    echo "consumer-test: FAILED: $*" >&2
    failures=$((failures + 1))
    return 1
  fi
}
# check DESCRIPTION CMD...: runs a silent check and reports it in one line.
check() {
  local what=$1
  shift
  checks=$((checks + 1))
  if "$@" >/dev/null 2>&1; then
    echo "  ok   $what"
  else
    echo "  FAIL $what" >&2
    failures=$((failures + 1))
  fi
}
finish() {
  echo
  if ((failures == 0)); then
    echo "consumer-test: PASS ($checks checks)"
    exit 0
  fi
  echo "consumer-test: FAIL ($failures of $checks checks failed)"
  exit 1
}

# loads_installed_library EXE: EXE resolves libdatatier.so.N to the one in $libdir.
loads_installed_library() {
  local found
  found=$(ldd "$1" | awk '/libdatatier\.so/ { print $3 }')
  [[ -n $found && $(readlink -f "$found") == $(readlink -f "$libdir/libdatatier.so") ]]
}

# names_no_library_path DIR: no file in DIR names a library file by its
# absolute path (as "$<LINK_ONLY:/usr/lib/.../libnuma.so>" would).
names_no_library_path() {
  ! grep -rqE '(^|[":; (])/[^" ;>]*\.(so|a)([" ;)>.]|$)' "$1"
}

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# build_with_cmake_package DIR: builds tests/consumer in DIR against the
# datatier installed in $prefix, through its CMake package, and runs it.
build_with_cmake_package() {
  local dir=$1
  run cmake -S "$root/tests/consumer" -B "$dir" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    >"$dir.configure.log" && grep 'datatier' "$dir.configure.log" | sed "s|$prefix|<prefix>|"
  check "find_package found datatier in the prefix" \
    grep -q "^datatier_DIR:PATH=$prefix/" "$dir/CMakeCache.txt"
  run cmake --build "$dir" >"$dir.build.log" || cat "$dir.build.log"
  for exe in consumer_cpp consumer_cpp_shared consumer_c consumer_c_static; do
    [[ -x $dir/$exe ]] && run "$dir/$exe"
  done
  check "consumer_cpp_shared loads the installed libdatatier.so" \
    loads_installed_library "$dir/consumer_cpp_shared"
  check "consumer_c_static does not need libdatatier.so" \
    bash -c "! readelf -d '$dir/consumer_c_static' | grep -q libdatatier"
}

if [[ -z $installed ]]; then
  step "install $build into $prefix"
  run cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
    cat "$tmp/install.log"
    finish
  }
  sed "s|$prefix|<prefix>|" "$tmp/install.log" | grep -v '^-- Up-to-date' || true
fi

libdir=$(find "$prefix"/lib* -maxdepth 2 -name libdatatier.a -printf '%h\n' 2>/dev/null | head -n 1)
libdir=${libdir:-$prefix/lib}

step "check the installed tree"
check "headers in include/datatier" test -f "$prefix/include/datatier/datatier.h"
check "C API header" test -f "$prefix/include/datatier/datatier_c.h"
check "static library" test -f "$libdir/libdatatier.a"
check "shared library with versioned SONAME" \
  bash -c "readelf -d '$libdir/libdatatier.so' | grep -q 'SONAME.*libdatatier\.so\.[0-9]'"
echo "       $(readelf -d "$libdir/libdatatier.so" | grep SONAME | sed 's/^ *//')"
check "libdatatier.so exports the C API" \
  bash -c "nm -D --defined-only '$libdir/libdatatier.so' | grep -q ' T datatier_pool_flush$'"
check "libdatatier.so exports no BLAKE3 symbol" \
  bash -c "! nm -D --defined-only '$libdir/libdatatier.so' | grep -qi blake3"
# (Under an installed prefix such as /usr other packages' headers may be
# anywhere: only datatier's directory is looked at.)
check "no BLAKE3 header installed" \
  bash -c "! find '$prefix${installed:+/include/datatier}' -iname '*blake3*.h' | grep -q ."
check "CMake package and version file" \
  test -f "$libdir/cmake/datatier/datatierConfig.cmake" -a \
       -f "$libdir/cmake/datatier/datatierConfigVersion.cmake"
check "CMake package names no build-tree path" \
  bash -c "! grep -rq '$root' '$libdir/cmake/datatier'"
check "CMake package names no library by absolute path" \
  names_no_library_path "$libdir/cmake/datatier"
check "pkg-config file" test -f "$libdir/pkgconfig/datatier.pc"
check "man page datatier(1)" test -f "$prefix/share/man/man1/datatier.1"
if [[ -f $prefix/share/man/man1/datatier.1 ]]; then
  check "man page renders without warnings" \
    bash -c "MANWIDTH=80 man --warnings -l '$prefix/share/man/man1/datatier.1' 2>&1 >/dev/null | (! grep -q .)"
fi
check "datatier tool" test -x "$prefix/bin/datatier"
if [[ -x $prefix/bin/datatier ]]; then
  run "$prefix/bin/datatier" --version
fi

step "build tests/consumer with find_package(datatier CONFIG)"
build_with_cmake_package "$tmp/cmake-build"

step "build tests/consumer with pkg-config --cflags --libs datatier"
export PKG_CONFIG_PATH=$libdir/pkgconfig
run pkg-config --modversion datatier
printf '  cflags: %s\n  libs:   %s\n  static: %s\n' \
  "$(pkg-config --cflags datatier | sed "s|$prefix|<prefix>|g")" \
  "$(pkg-config --libs datatier | sed "s|$prefix|<prefix>|g")" \
  "$(pkg-config --static --libs datatier | sed "s|$prefix|<prefix>|g")"
cflags=$(pkg-config --cflags datatier)
libs=$(pkg-config --libs datatier)
rpath=-Wl,-rpath,$(pkg-config --variable=libdir datatier)
src=$root/tests/consumer
pc=$tmp/pkg-config-build
mkdir -p "$pc"
# shellcheck disable=SC2086  # the flags are meant to split
{
  run c++ -std=c++20 "$src/consumer.cc" $cflags $libs "$rpath" -o "$pc/consumer_cpp" &&
    run "$pc/consumer_cpp"
  run cc -std=c11 "$src/consumer_c.c" $cflags $libs "$rpath" -o "$pc/consumer_c" &&
    run "$pc/consumer_c"
  static_libs=$(pkg-config --static --libs datatier |
    sed 's/\(^\| \)-ldatatier\( \|$\)/ -Wl,-Bstatic -ldatatier -Wl,-Bdynamic /')
  run cc -std=c11 "$src/consumer_c.c" $cflags $static_libs -o "$pc/consumer_c_static" &&
    run "$pc/consumer_c_static"
}
check "pkg-config C++ build loads the installed libdatatier.so" \
  loads_installed_library "$pc/consumer_cpp"
check "pkg-config --static C build does not need libdatatier.so" \
  bash -c "! readelf -d '$pc/consumer_c_static' | grep -q libdatatier"

# An installed prefix is not ours to move.
[[ -n $installed ]] && finish

# The CMake package is relocatable: it finds its files relative to itself.
# (The pkg-config file names the prefix it was installed to.)
step "move the prefix elsewhere and build tests/consumer against it there"
moved=$tmp/moved/prefix
mkdir -p "$tmp/moved"
run mv "$prefix" "$moved"
libdir=$moved/${libdir#"$prefix"/}
prefix=$moved
build_with_cmake_package "$tmp/cmake-build-moved"

finish
